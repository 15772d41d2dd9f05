import type { Lease } from './lease.js';
import type { Node } from './waiter-queue.js';

/** What a waiting request tells its pool: the caller's signal aborted (deadlines are the queue's own timer). */
export interface RequestOwner {
  /** The caller's signal aborted while it was queued. */
  leave(request: AcquireRequest, reason: unknown): void;
}

/**
 * One caller waiting for a connection: its deadline (watched by the queue's one timer), its abort signal's
 * listener (removed when it settles), its place in the queue, and the promise it settles exactly once.
 */
export class AcquireRequest {
  /** `performance.now()` when the acquire started. */
  readonly startedAt: number;
  /** `performance.now()` when the wait times out (Infinity: never). */
  readonly deadline: number;
  /** Where the connection was asked for (leak detection captures it). */
  readonly stack: Error | undefined;
  /** Its entry in the pool's queue while it waits. */
  node: Node<AcquireRequest> | undefined;
  readonly #resolve: (lease: Lease) => void;
  readonly #reject: (err: unknown) => void;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(
    owner: RequestOwner,
    startedAt: number,
    limitMillis: number,
    stack: Error | undefined,
    signal: AbortSignal | undefined,
    resolve: (lease: Lease) => void,
    reject: (err: unknown) => void,
  ) {
    this.startedAt = startedAt;
    this.deadline = performance.now() + limitMillis;
    this.stack = stack;
    this.#resolve = resolve;
    this.#reject = reject;
    if (signal) {
      this.#signal = signal;
      this.#onAbort = () => owner.leave(this, signal.reason);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** True while the request waits in the queue. */
  get queued(): boolean {
    return this.node?.queued === true;
  }

  /** Hands the caller its lease (the request must have left the queue). */
  fulfil(lease: Lease): void {
    this.#stop();
    this.#resolve(lease);
  }

  /** Rejects the caller with `err` (the request must have left the queue). */
  fail(err: unknown): void {
    this.#stop();
    this.#reject(err);
  }

  #stop(): void {
    this.node = undefined;
    if (this.#signal && this.#onAbort) this.#signal.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
    this.#onAbort = undefined;
  }
}
