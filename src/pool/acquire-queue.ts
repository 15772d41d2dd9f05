import type pg from 'pg';
import type { Logger } from 'pino';
import { admission } from './acquire-admission.js';
import type { AcquireFailures } from './acquire-failures.js';
import { AcquireRequest, type RequestOwner } from './acquire-request.js';
import type { ConnectGate } from './connect-gate.js';
import type { ConnectionFactory } from './connection-factory.js';
import { ConnectionJobs, type JobHost } from './connection-jobs.js';
import { idleUnusable } from './destroy-reason.js';
import type { IdleReturns } from './idle-returns.js';
import type { IdleStore } from './idle-store.js';
import type { SweepHost } from './idle-sweep.js';
import type { Lease } from './lease.js';
import type { PoolSettings } from './pool-config.js';
import { WaitingLine } from './waiting-line.js';

/** The store asked for a `min` connection while the pool's own attempts already fill it up to `max`. */
const NO_ROOM = new Error('no room for another connection');

/** What the queue needs of the pool around it. */
export interface QueueHost {
  /** True once the pool is closing. */
  readonly closing: boolean;
  /** Connections lent out now. */
  readonly borrowed: number;
  /**
   * Lends `client` to a caller who asked at `started` (the lease counted and logged), or destroys the client
   * and returns undefined when it is unusable.
   */
  lend(client: pg.Client, stack: Error | undefined, started: number): Lease | undefined;
}

/** The parts of the pool the queue works with. */
export interface QueueParts {
  readonly settings: PoolSettings;
  readonly store: IdleStore;
  /** Where a connection nobody waits for goes (warm, the store), and how one is destroyed. */
  readonly returns: IdleReturns;
  readonly factory: ConnectionFactory;
  readonly gate: ConnectGate;
  readonly failures: AcquireFailures;
  readonly log: Logger;
  /** Aborted when the pool starts closing. */
  readonly stop: AbortSignal;
}

/**
 * The callers waiting for a connection, in FIFO order, and the work that serves them: idle connections matched
 * with the oldest waiter, connection jobs started while there is room, deadlines and aborts, fail-fast
 * exhaustion.
 */
export class AcquireQueue implements RequestOwner, JobHost, SweepHost {
  readonly #host: QueueHost;
  readonly #parts: QueueParts;
  readonly #jobs: ConnectionJobs;
  readonly #waiters = new WaitingLine((request) => this.#expired(request));
  /** Clients on their way from the store to the head of the queue. */
  #inboundIdle = 0;
  /** Connections the store is opening to keep `min` (counted in `store.size`, not in the jobs). */
  #storeCreating = 0;

  constructor(host: QueueHost, parts: QueueParts) {
    this.#host = host;
    this.#parts = parts;
    this.#jobs = new ConnectionJobs(this, parts.factory, parts.gate, parts.log, parts.stop);
  }

  /** Callers waiting. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Connections being opened for the queue (counted in the pool's `size`). */
  get connecting(): number {
    return this.#jobs.running;
  }

  /** JobHost. */
  get closing(): boolean {
    return this.#host.closing;
  }

  /** JobHost: the oldest waiter's deadline. */
  headDeadline(): number | undefined {
    return this.#waiters.head()?.deadline;
  }

  /** SweepHost: a broken or expired idle connection goes. */
  retireUnusable(client: pg.Client): boolean {
    const reason = idleUnusable(this.#parts.factory.info(client));
    if (reason === undefined) return false;
    this.#parts.returns.destroy(client, reason);
    return true;
  }

  /**
   * The store's hook for `min`. A waiting caller's connection is opened by a job and adopted; the store itself
   * only opens connections to keep `min` (one attempt, no retry loop), never while the jobs fill the room.
   */
  createForMin(): Promise<pg.Client> {
    const { store, settings } = this.#parts;
    return store.size + this.#jobs.running > settings.max ? Promise.reject(NO_ROOM) : this.#keepMin();
  }

  /** The store's hook: a `min` attempt failed. */
  createForMinFailed(err: unknown): void {
    if (err === NO_ROOM) return;
    this.#jobs.failed(err);
    // As for a job: no retry can fix it, so nobody waits for it.
    if (this.#parts.gate.permanent) this.failedForGood();
  }

  /**
   * Opens a connection the store asked for to keep `min`. Waiters that arrive meanwhile count on it (see
   * {@link dispatch}), so once it has settled the queue is served again. generic-pool puts a created connection
   * into its idle list in a continuation of the promise `create()` returned, so it is there by the next
   * macrotask; `pool-fixed-size.test.ts` fails if a generic-pool upgrade changes that.
   */
  #keepMin(): Promise<pg.Client> {
    this.#storeCreating++;
    return this.#parts.factory.connect().finally(() => {
      this.#storeCreating--;
      setImmediate(() => this.dispatch());
    });
  }

  /**
   * Queues a caller (at the front when `first`: it came before the current waiters), or rejects at once when it
   * could only wait in vain: PoolExhaustedError ('no-wait', 'queue-full') or ConnectError (the server refuses
   * for good).
   */
  wait(
    timeoutMillis: number,
    signal: AbortSignal | undefined,
    stack: Error | undefined,
    started: number,
    first: boolean,
  ): Promise<Lease> {
    const { settings: s, failures, gate, store } = this.#parts;
    const refused = admission({
      timeoutMillis,
      first,
      max: s.max,
      maxWaiting: s.maxWaiting,
      borrowed: this.#host.borrowed,
      waiting: this.#waiters.size,
      size: store.size + this.#jobs.running,
      refusedForGood: gate.permanent && gate.delayMillis() > 0,
    });
    if (refused === 'connect-error') return Promise.reject(failures.connectError(started));
    if (refused) return Promise.reject(failures.exhausted(refused, started));
    // With timeout 0 a caller never waits for a borrowed connection, only for one being opened for it.
    const limit = timeoutMillis === 0 ? s.connectTimeoutMillis : timeoutMillis;
    return new Promise<Lease>((resolve, reject) => {
      const request = new AcquireRequest(this, started, limit, stack, signal, resolve, reject);
      if (first) this.#waiters.pushFront(request);
      else this.#waiters.push(request);
      this.dispatch();
    });
  }

  /** RequestOwner: the caller's signal aborted. */
  leave(request: AcquireRequest, reason: unknown): void {
    if (this.#waiters.remove(request)) request.fail(reason);
  }

  /** The request's deadline passed (it has left the line). */
  #expired(request: AcquireRequest): void {
    const { gate, failures, settings } = this.#parts;
    // The server has failed every attempt since the last success: that, not a full pool, is why this caller
    // waited, even when no attempt ended inside its own wait (the last-chance attempt may still be connecting
    // at the deadline on a slow or loaded server).
    const failedWhileWaiting = gate.failures > 0;
    request.fail(
      failedWhileWaiting && this.#host.borrowed < settings.max
        ? failures.connectError(request.startedAt)
        : failures.exhausted('timeout', request.startedAt, failedWhileWaiting),
    );
  }

  /** Hands a connection to the oldest waiter, or back to the store when nobody waits. */
  deliver(client: pg.Client): void {
    const request = this.#waiters.size > 0 && !this.#host.closing ? this.#waiters.shift() : undefined;
    if (!request) {
      this.#parts.returns.park(client);
      return;
    }
    const lease = this.#host.lend(client, request.stack, request.startedAt);
    if (!lease) {
      // Broken on arrival: the waiter goes back to the front of the line.
      this.#waiters.pushFront(request);
      this.dispatch();
      return;
    }
    request.fulfil(lease);
  }

  /** Matches waiters with idle connections, and starts connection jobs while there is room. */
  dispatch(): void {
    if (this.#host.closing) return;
    const { store, gate, settings } = this.#parts;
    // Connections kept warm serve callers who did not wait; a waiter is served through the store.
    if (this.#waiters.size > 0) this.#parts.returns.flushWarm();
    // An idle connection goes to a waiter even while connection jobs run: a job may be sleeping in backoff
    // (server failing, out of slots) for seconds, and its waiter must not time out beside an idle connection.
    let unserved = this.#waiters.size - this.#inboundIdle;
    // Only connections not already owed to a pending store acquire (see the fast path in PoolCore#lease).
    while (unserved > 0 && store.available > store.pending) {
      unserved--;
      this.#toQueue(store.acquire());
    }
    // Waiters that connections being opened (by the jobs, or by the store for `min`) will serve need no job.
    const jobs = this.#jobs;
    let uncovered = unserved - jobs.running - this.#storeCreating;
    while (uncovered > 0 && store.size + jobs.running < settings.max) {
      // While the server is failing, one attempt at a time.
      if (gate.failures > 0 && jobs.running > 0) break;
      if (gate.permanent && gate.delayMillis() > 0) break;
      uncovered--;
      jobs.start();
    }
  }

  /** JobHost: a job opened a connection; it enters the store and serves the queue. */
  opened(client: pg.Client): void {
    const { acquired, surplus } = this.#parts.store.adopt(client);
    // The store served that acquire from an idle connection instead: the new one is surplus.
    if (surplus) void this.#parts.factory.destroy(surplus, 'not needed');
    this.#toQueue(acquired);
  }

  /** JobHost. */
  jobEnded(): void {
    this.dispatch();
  }

  /** JobHost: no retry can fix the server's answer; every waiter rejects now. */
  failedForGood(): void {
    this.rejectAll(() => this.#parts.failures.connectError(performance.now()));
  }

  /** Hands the connection a store acquire resolves with to the head of the queue, counting it meanwhile. */
  #toQueue(acquired: Promise<pg.Client>): void {
    this.#inboundIdle++;
    acquired.then(
      (client) => {
        this.#inboundIdle--;
        this.deliver(client);
      },
      () => {
        // Only a closing store rejects; the waiters are rejected by close().
        this.#inboundIdle--;
      },
    );
  }

  /** Rejects every waiter, each with a fresh `makeError()`. */
  rejectAll(makeError: () => unknown): void {
    this.#waiters.drain((w) => w.fail(makeError()));
  }

  /** Resolves once no job runs and no idle connection is on its way to a waiter (pool closing). */
  async drained(): Promise<void> {
    await this.#jobs.settled();
    while (this.#inboundIdle > 0) await new Promise((r) => setImmediate(r));
  }
}
