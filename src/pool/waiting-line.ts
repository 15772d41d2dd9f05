import type { AcquireRequest } from './acquire-request.js';
import { QueueDeadline } from './queue-deadline.js';
import { WaiterQueue } from './waiter-queue.js';

/**
 * The callers waiting for a connection, oldest first, with the one timer that watches all their deadlines:
 * when it fires, every request whose deadline has passed leaves the line and goes to `onExpired`.
 */
export class WaitingLine {
  readonly #waiters = new WaiterQueue<AcquireRequest>();
  readonly #deadline = new QueueDeadline(() => this.#expireDue());
  readonly #onExpired: (request: AcquireRequest) => void;
  /** True while the deadlines are in line order (the usual case: one timeout for all), so the head's is next. */
  #ordered = true;

  /** `onExpired`: a request's deadline passed; it has left the line. */
  constructor(onExpired: (request: AcquireRequest) => void) {
    this.#onExpired = onExpired;
  }

  /** Requests waiting. */
  get size(): number {
    return this.#waiters.size;
  }

  /** The oldest request, left in the line. */
  head(): AcquireRequest | undefined {
    return this.#waiters.peek();
  }

  /** Appends a request and watches its deadline. */
  push(request: AcquireRequest): void {
    this.#enqueue(request);
    this.#deadline.arm(request.deadline);
  }

  /** Puts a request before every other (it came before them: a broken idle connection met it). */
  pushFront(request: AcquireRequest): void {
    // Rare path: rebuild the line with this request first.
    const rest: AcquireRequest[] = [];
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) rest.push(w);
    this.#ordered = true;
    this.#enqueue(request);
    for (const w of rest) this.#enqueue(w);
    this.#deadline.arm(request.deadline);
  }

  /** Takes the oldest request out of the line. */
  shift(): AcquireRequest | undefined {
    const request = this.#waiters.shift();
    if (request) {
      request.node = undefined;
      if (this.#waiters.size === 0) this.#emptied();
    }
    return request;
  }

  /** Takes a request out of the line; false when it was not in it. */
  remove(request: AcquireRequest): boolean {
    if (!request.node?.queued) return false;
    this.#waiters.remove(request.node);
    request.node = undefined;
    if (this.#waiters.size === 0) this.#emptied();
    return true;
  }

  /** Empties the line, handing each request to `each`, oldest first. */
  drain(each: (request: AcquireRequest) => void): void {
    for (let w = this.shift(); w; w = this.shift()) each(w);
    this.#emptied();
  }

  #enqueue(request: AcquireRequest): void {
    const tail = this.#waiters.size > 0 ? this.#waiters.last() : undefined;
    if (tail !== undefined && request.deadline < tail.deadline) this.#ordered = false;
    request.node = this.#waiters.push(request);
  }

  /** The timer fired: every request whose deadline has passed expires; the timer moves to the next one. */
  #expireDue(): void {
    const now = performance.now();
    const due: AcquireRequest[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const request of this.#waiters.values()) {
      if (request.deadline <= now) due.push(request);
      else if (this.#ordered) {
        next = request.deadline;
        break;
      } else next = Math.min(next, request.deadline);
    }
    for (const request of due) if (this.remove(request)) this.#onExpired(request);
    if (this.#waiters.size > 0) this.#deadline.arm(next, now);
  }

  /** The line is empty: no deadline to watch, and the next deadlines start in order again. */
  #emptied(): void {
    this.#deadline.clear();
    this.#ordered = true;
  }
}
