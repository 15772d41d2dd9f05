import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import type { Logger } from 'pino';
import { PoolClosedError } from '../errors.js';
import { acquireChannel, releaseChannel } from '../logging/channels.js';
import type { DestroyReason } from '../logging/events.js';
import { createPoolLogger, poolName } from '../logging/logger.js';
import { Redactor } from '../logging/redact.js';
import type { PoolStats, PoolSummary } from '../stats.js';
import type { AcquireOptions } from './acquire-options.js';
import type { AcquireQueue, QueueHost } from './acquire-queue.js';
import type { ConnectionFactory } from './connection-factory.js';
import { idleUnusable, unusableReason } from './destroy-reason.js';
import type { IdleReturns } from './idle-returns.js';
import type { IdleStore } from './idle-store.js';
import { Lease, type LeaseOwner } from './lease.js';
import { logLent, logReturned } from './lease-events.js';
import { returnLease } from './lease-return.js';
import type { LentLeases } from './lent-leases.js';
import { checkNestedAcquire } from './nested-acquire.js';
import { publishRelease, traceAcquire } from './pool-channels.js';
import { type CloseOptions, closePool, closeTimeout } from './pool-close.js';
import type { PoolSettings } from './pool-config.js';
import { assemblePool, type PoolParts } from './pool-parts.js';
import { type OutcomeCounts, poolStats } from './pool-stats.js';
import { findFrame } from './scope-context.js';

export type { OutcomeCounts } from './pool-stats.js';

/**
 * The bounded pool: the idle store keeps the connections, and this class owns everything a caller waits for —
 * a FIFO queue of acquire requests (each with its deadline and abort), fail-fast exhaustion, the connection
 * jobs that open connections for the queue, and the exactly-once return of every lease.
 */
export class PoolCore<O extends OutcomeCounts = OutcomeCounts> implements LeaseOwner, QueueHost {
  /** @internal */
  readonly settings: PoolSettings;
  /** @internal The pool's logger (a child of the caller's). */
  readonly log: Logger;
  /** @internal The transactions' totals, which `stats()` reports (kept by the layer above). */
  readonly outcomes: O;
  readonly #factory: ConnectionFactory;
  readonly #store: IdleStore;
  readonly #queue: AcquireQueue;
  readonly #leases: LentLeases;
  readonly #returns: IdleReturns;
  /** The parts `stats()` and `close()` go through. */
  readonly #parts: PoolParts;
  /** The pool's life: lending, closing (close() called), closed (every connection gone). */
  #phase: 'open' | 'closing' | 'closed' = 'open';
  #closing: Promise<void> | undefined;
  readonly #captureStacks: boolean;
  /** The pool's name in log lines, channels, metrics and spans (`name`, `application_name` or 'pg-scope'). */
  readonly #name: string;
  /** @internal The public pool object, named in diagnostics_channel messages (set by the layer above). */
  publicPool: object = this;

  constructor(settings: PoolSettings, outcomes: O) {
    this.settings = settings;
    this.outcomes = outcomes;
    const cc = settings.clientConfig;
    const redactor = new Redactor(cc.secrets());
    this.#name = redactor.text(settings.name ?? poolName(cc));
    this.log = createPoolLogger(settings.logger, this.#name, redactor);
    // A stack costs microseconds per acquire: only leak detection, which must say where the holder got its
    // connection, captures one for every acquire.
    this.#captureStacks = settings.leakDetectionMillis > 0;
    const parts = assemblePool(this, settings, outcomes, this.log, redactor);
    this.#parts = parts;
    this.#factory = parts.factory;
    this.#store = parts.store;
    this.#queue = parts.queue;
    this.#leases = parts.leases;
    this.#returns = parts.returns;
    this.#store.start();
  }

  /** The pool's name (`name`, else `application_name`, else 'pg-scope'). */
  get name(): string {
    return this.#name;
  }

  /** @internal Sets the one observer of connections opened and destroyed (the `pgPool()` view). */
  set connectionObserver(observer: ConnectionFactory['observer']) {
    this.#factory.observer = observer;
  }

  /** Counters and totals, a snapshot. */
  stats(): PoolStats {
    return poolStats(this.#parts, this.#phase === 'closed');
  }

  /** @internal FailureContext: the lease lent longest ago. */
  oldestLease(): Lease | undefined {
    return this.#leases.oldest();
  }

  /** @internal Aborted when `close()` starts: sleeps on the pool's behalf (retry backoff) end then. */
  get closingSignal(): AbortSignal {
    return this.#parts.stopping.signal;
  }

  /** @internal QueueHost: true once `close()` was called (closing, or closed). */
  get closing(): boolean {
    return this.#phase !== 'open';
  }

  /**
   * @internal A lease at once, without a promise, when nothing stands in the way: the pool is open, nobody
   * waits, a connection was given back warm, and no enclosing scope of this pool is in the current context
   * (nested-acquire detection then has its say in {@link lease}). Else undefined: call {@link lease}.
   */
  leaseNow(signal: AbortSignal | undefined, checkNested: boolean | 'whenFull' = true): Lease | undefined {
    if (
      this.#returns.warm.size === 0 ||
      acquireChannel.hasSubscribers ||
      this.#queue.waiting > 0 ||
      this.#phase !== 'open' ||
      this.#captureStacks ||
      signal?.aborted ||
      (checkNested === true && this.settings.nestedAcquire !== 'allow' && findFrame(this) !== undefined)
    ) {
      return undefined;
    }
    return this.lend(this.#returns.warm.pop() as pg.Client, undefined, performance.now());
  }

  /**
   * @internal Lends a connection: from the idle list, newly opened, or after waiting in FIFO order.
   * Rejects with PoolExhaustedError, ConnectError, PoolClosedError, NestedAcquireError or `signal.reason`.
   */
  lease(options?: AcquireOptions, checkNested: boolean | 'whenFull' = true): Promise<Lease> {
    if (!acquireChannel.hasSubscribers) return this.#lease(options, checkNested);
    const timeoutMillis = options?.timeoutMillis ?? this.settings.acquireTimeoutMillis;
    return traceAcquire(this, timeoutMillis, () => this.#lease(options, checkNested));
  }

  #lease(options: AcquireOptions | undefined, checkNested: boolean | 'whenFull'): Promise<Lease> {
    let stack: Error | undefined;
    try {
      if (this.#phase !== 'open') throw new PoolClosedError();
      if (options?.signal?.aborted) throw options.signal.reason;
      stack = this.#captureStacks ? new Error('connection acquired here') : undefined;
      const mode = this.settings.nestedAcquire;
      // 'whenFull' (propagation 'requiresNew'): the hazard only when this acquire would have to wait for a
      // borrowed connection.
      if (mode !== 'allow' && (checkNested === true || (checkNested === 'whenFull' && this.#full()))) {
        checkNestedAcquire(this, mode, this.log, stack);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const started = performance.now();
    const store = this.#store;
    if (this.#queue.waiting === 0 && (this.#returns.warm.size > 0 || store.available > store.pending)) {
      return this.#leaseIdle(options, stack, started);
    }
    return this.#queue.wait(
      options?.timeoutMillis ?? this.settings.acquireTimeoutMillis,
      options?.signal,
      stack,
      started,
      false,
    );
  }

  /**
   * Nobody waits and a connection is idle (warm first). One the store owes to its own pending acquire (an
   * adopted one) is not free: taking it leaves that acquire with nothing, and the store loops on create().
   */
  async #leaseIdle(
    options: AcquireOptions | undefined,
    stack: Error | undefined,
    started: number,
  ): Promise<Lease> {
    let first = false;
    const store = this.#store;
    while (this.#queue.waiting === 0) {
      let client = this.#returns.warm.pop();
      if (client === undefined) {
        if (store.available <= store.pending) break;
        client = await store.acquire();
      }
      const lease = this.lend(client, stack, started);
      if (lease) return lease;
      // The idle connection was broken: later callers may have queued meanwhile, but this one came first.
      first = true;
    }
    const timeoutMillis = options?.timeoutMillis ?? this.settings.acquireTimeoutMillis;
    return this.#queue.wait(timeoutMillis, options?.signal, stack, started, first);
  }

  /** No idle connection free for a new caller and no room to open one: a new acquire waits for a return. */
  #full(): boolean {
    const store = this.#store;
    const idleFree =
      this.#queue.waiting === 0 && (this.#returns.warm.size > 0 || store.available > store.pending);
    return !idleFree && store.size + this.#queue.connecting >= this.settings.max;
  }

  /** @internal QueueHost: connections lent out now. */
  get borrowed(): number {
    return this.#leases.size;
  }

  /**
   * @internal QueueHost: lends `client` to a caller who asked at `started` (counted and logged), or destroys it
   * and returns undefined when it is unusable.
   */
  lend(client: pg.Client, stack: Error | undefined, started: number): Lease | undefined {
    const info = this.#factory.info(client);
    const unusable = this.closing ? 'pool closed' : idleUnusable(info);
    if (unusable !== undefined || info === undefined) {
      this.#returns.destroy(client, unusable ?? 'broken');
      return undefined;
    }
    this.#factory.markIdle(client, false);
    info.uses++;
    const lease = new Lease(this, client, info, stack);
    this.#leases.add(lease);
    logLent(this.log, lease, lease.acquiredAt - started, this.settings.slowAcquireMillis, this);
    return lease;
  }

  /** @internal LeaseOwner: the exactly-once return of a lease's connection. */
  giveBack(lease: Lease, destroyReason: DestroyReason | undefined): Promise<void> {
    return returnLease(lease, destroyReason, this.settings, this.log, this.#settleReturn);
  }

  /** The pool's side of a returned lease, once its connection's fate is known (`reason`: destroy it). */
  readonly #settleReturn = (lease: Lease, reason: DestroyReason | undefined): void => {
    const client = lease.rawClient;
    this.#leases.delete(lease);
    logReturned(this.log, lease);
    if (releaseChannel.hasSubscribers) publishRelease(this, lease);
    // A healthy connection goes straight to the oldest waiter (back to the store only when nobody waits):
    // a round through the store's release and acquire costs CPU and leaves the connection idle meanwhile.
    if (reason === undefined && lease.info.brokenBy === undefined && !this.closing)
      this.#queue.deliver(client);
    else this.#returns.destroy(client, reason ?? unusableReason(lease.info, this.closing, 'broken'), lease);
  };

  /** @internal LeaseOwner. */
  noteQueryError(client: pg.Client, err: unknown): void {
    this.#factory.noteQueryError(client, err);
  }

  /**
   * Closes the pool: new acquires and waiting acquirers reject with PoolClosedError; borrowed connections get
   * `timeoutMillis` to come back, then are destroyed. Idempotent: a second call returns the first's promise.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#closing) return this.#closing;
    const timeoutMillis = closeTimeout(options);
    this.#phase = 'closing';
    this.#returns.warm.flush();
    this.#closing = closePool(this.#parts, timeoutMillis).then(() => {
      this.#phase = 'closed';
    });
    return this.#closing;
  }

  /** `JSON.stringify` shows the pool's name and counters, never its settings. */
  toJSON(): PoolSummary {
    return { name: this.#name, closed: this.closing, stats: this.stats() };
  }

  /** `util.inspect` shows what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `PoolCore ${show(this.toJSON(), options)}`;
  }
}
