import { setTimeout as sleep } from 'node:timers/promises';
import { type InspectOptions, inspect } from 'node:util';
import { createPool as createGenericPool, type Pool as GenericPool } from 'generic-pool';
import type pg from 'pg';
import type { Logger } from 'pino';
import {
  ConnectError,
  NestedAcquireError,
  PoolClosedError,
  PoolExhaustedError,
  type PoolExhaustedReason,
  type PoolStats,
} from '../errors.js';
import { LogEvent } from '../logging/events.js';
import { createPoolLogger, poolName } from '../logging/logger.js';
import { Redactor } from '../logging/redact.js';
import { thrownField, thrownMessage, withoutStack } from '../logging/thrown-value.js';
import { WarnThrottle } from '../logging/warn-throttle.js';
import { pollUntil, timerDelay } from '../util/timers.js';
import { isTransientConnectError } from './connect-errors.js';
import { ConnectGate } from './connect-gate.js';
import { ConnectionFactory } from './connection-factory.js';
import { Lease, type LeaseOwner } from './lease.js';
import { logLent, logReturned, sweepLeaks } from './lease-events.js';
import { type AcquireOptions, checkMillis, type PoolSettings } from './pool-options.js';
import { findFrame, runInFrame } from './scope-context.js';
import { type Node, WaiterQueue } from './waiter-queue.js';

export type { AcquireOptions };

/** Options of `pool.close()`. */
export interface CloseOptions {
  /** How long borrowed connections get to come back before they are destroyed. Default 10 000. */
  timeoutMillis?: number;
}

interface Waiter {
  readonly startedAt: number;
  /** `performance.now()` when the wait times out (Infinity: never). */
  readonly deadline: number;
  readonly stack: Error | undefined;
  resolve(lease: Lease): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  node: Node<Waiter> | undefined;
}

/** Running totals of a pool (see `PoolStats`). */
interface Totals {
  acquired: number;
  exhausted: number;
  commits: number;
  rollbacks: number;
}

/** The store asked for a `min` connection while the pool's own attempts already fill it up to `max`. */
const NO_ROOM = new Error('no room for another connection');

/** `#quickCheck`: the connection must be reset on the server before reuse. */
const NEEDS_RESET = Symbol('needs reset');
const RESOLVED = Promise.resolve();
/**
 * While the server is failing, the last connection attempt for the oldest waiter starts at least this long
 * before its deadline, however long the backoff: an outage that ends before then is ridden out.
 */
const LAST_ATTEMPT_LEAD_MILLIS = 300;

/**
 * The bounded pool: generic-pool keeps the connections (idle list, LIFO reuse, idle eviction, `min`), and this
 * class owns everything a caller waits for — a FIFO queue with per-acquire deadlines and abort, fail-fast
 * exhaustion, paced connection attempts, and the exactly-once return of every lease.
 */
export class PoolCore implements LeaseOwner {
  /** @internal */
  readonly settings: PoolSettings;
  /** @internal The pool's logger (a child of the caller's). */
  readonly log: Logger;
  /** @internal */
  readonly totals: Totals = { acquired: 0, exhausted: 0, commits: 0, rollbacks: 0 };
  readonly #factory: ConnectionFactory;
  readonly #gate = new ConnectGate();
  readonly #store: GenericPool<pg.Client>;
  readonly #handoff: pg.Client[] = [];
  readonly #waiters = new WaiterQueue<Waiter>();
  readonly #leases = new Set<Lease>();
  readonly #stopping = new AbortController();
  /** Clients on their way from the store to the head of the queue. */
  #inboundIdle = 0;
  /** An idle sweep is due (see #scheduleIdleSweep). */
  #sweepScheduled = false;
  /** Connection jobs running (each may retry while callers wait). */
  #connecting = 0;
  /** Connections the store is opening to keep `min` (counted in `store.size`, not in `#connecting`). */
  #storeCreating = 0;
  readonly #jobs = new Set<Promise<void>>();
  #closing: Promise<void> | undefined;
  #closed = false;
  #leakSweep: NodeJS.Timeout | undefined;
  readonly #captureStacks: boolean;
  /** The pool's name in log lines (`application_name` or 'pg-scope'). */
  readonly #name: string;
  /** Why the pool destroys a connection (and for which scope), for the store's destroy hook to log. */
  readonly #destroyReasons = new WeakMap<pg.Client, { reason: string; lease: Lease | undefined }>();
  /** Removes the password and connection string from the messages the pool makes. */
  readonly #redactor: Redactor;
  /** Aggregates the warn lines of PoolExhaustedErrors (see `LogEvent.exhausted`). */
  readonly #exhaustedLog: WarnThrottle;

  constructor(settings: PoolSettings) {
    this.settings = settings;
    const cc = settings.clientConfig;
    this.#redactor = new Redactor(cc.secrets());
    this.#name = this.#redactor.text(poolName(cc));
    this.log = createPoolLogger(settings.logger, this.#name, this.#redactor);
    this.#exhaustedLog = new WarnThrottle(this.log);
    this.#factory = new ConnectionFactory(settings, this.log);
    this.#factory.onBroken = () => this.#scheduleIdleSweep();
    // A stack costs microseconds per acquire: only leak detection, which must say where the holder got its
    // connection, captures one for every acquire.
    this.#captureStacks = settings.leakDetectionMillis > 0;
    const leakMillis = settings.leakDetectionMillis;
    if (leakMillis > 0) {
      // One sweep over the borrowed connections a few times per threshold, instead of a timer per acquire:
      // a held connection is reported between 1 and 1.25 thresholds after it was acquired.
      this.#leakSweep = setInterval(
        () => sweepLeaks(this.log, this.#leases, leakMillis),
        Math.max(5, Math.min(1_000, leakMillis / 4)),
      );
      this.#leakSweep.unref();
    }
    const idle = settings.idleTimeoutMillis;
    this.#store = createGenericPool<pg.Client>(
      {
        // A waiting caller's connection is opened by a job of ours and handed over here; the store itself only
        // opens connections to keep `min` (one attempt, no retry loop).
        create: () => {
          const ready = this.#handoff.shift();
          if (ready) return Promise.resolve(ready);
          // Keeping `min`: never while our own jobs already fill the room up to `max`.
          if (this.#store.size + this.#connecting > settings.max) return Promise.reject(NO_ROOM);
          return this.#keepMin();
        },
        destroy: (client) => {
          const why = this.#destroyReasons.get(client);
          return this.#factory.destroy(client, why?.reason ?? this.#evictionReason(client), why?.lease);
        },
      },
      {
        max: settings.max,
        min: settings.min,
        fifo: false,
        // Started below: with `min` > 0 starting calls create() at once, which needs `this.#store` assigned.
        autostart: false,
        idleTimeoutMillis: Number.MAX_SAFE_INTEGER,
        softIdleTimeoutMillis: idle === Number.POSITIVE_INFINITY ? -1 : idle,
        // generic-pool unrefs its eviction timer itself (3.x, not an option): it never keeps the process alive,
        // which integration-tests/exit-on-idle.test.ts relies on.
        evictionRunIntervalMillis:
          idle === Number.POSITIVE_INFINITY ? 0 : Math.max(10, Math.min(1_000, idle / 2)),
        numTestsPerEvictionRun: settings.max,
      },
    );
    this.#store.on('factoryCreateError', (err) => {
      if (err === NO_ROOM) return;
      this.#connectFailed(err);
      // As for a job of ours: no retry can fix it, so nobody waits for it.
      if (this.#gate.permanent) this.#rejectAllWaiters(() => this.#connectError(performance.now()));
    });
    void this.#store.start();
  }

  /** The pool's name in log lines (`application_name`, or 'pg-scope'). */
  get name(): string {
    return this.#name;
  }

  /** @internal Sets the one observer of connections opened and destroyed (the `pgPool()` view). */
  set connectionObserver(observer: ConnectionFactory['observer']) {
    this.#factory.observer = observer;
  }

  /** Counters and totals, a snapshot. */
  stats(): PoolStats {
    const store = this.#store;
    return {
      max: this.settings.max,
      min: this.settings.min,
      size: store.size + this.#connecting,
      idle: this.#closed ? 0 : store.available,
      borrowed: this.#leases.size,
      waiting: this.#waiters.size,
      acquired: this.totals.acquired,
      created: this.#factory.created,
      destroyed: this.#factory.destroyed,
      exhausted: this.totals.exhausted,
      commits: this.totals.commits,
      rollbacks: this.totals.rollbacks,
      longestBorrowMillis: this.#longestBorrowMillis(),
    };
  }

  /** The lease lent longest ago: leases enter the set as they are lent, so it is the first one. */
  #oldestLease(): Lease | undefined {
    return this.#leases.values().next().value;
  }

  #longestBorrowMillis(): number {
    const oldest = this.#oldestLease();
    return oldest ? Math.round(performance.now() - oldest.acquiredAt) : 0;
  }

  /** @internal Aborted when `close()` starts: sleeps on the pool's behalf (retry backoff) end then. */
  get closingSignal(): AbortSignal {
    return this.#stopping.signal;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * @internal Lends a connection: from the idle list, newly opened, or after waiting in FIFO order.
   * Rejects with PoolExhaustedError, ConnectError, PoolClosedError, NestedAcquireError or `signal.reason`.
   */
  async lease(options?: AcquireOptions, checkNested: boolean | 'whenFull' = true): Promise<Lease> {
    if (this.#closing) throw new PoolClosedError();
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    const stack = this.#captureStacks ? new Error('connection acquired here') : undefined;
    // 'whenFull' (propagation 'requiresNew'): the hazard only when this acquire would have to wait for a
    // borrowed connection.
    if (
      this.settings.nestedAcquire !== 'allow' &&
      (checkNested === true || (checkNested === 'whenFull' && this.#noFreeConnection()))
    ) {
      this.#checkNested(stack);
    }
    const started = performance.now();
    // Fast path: nobody waits and a connection is idle. An idle connection the store already owes to one of
    // its own pending acquires (a job's handoff) is not free: taking it would leave a store acquire pending
    // with nothing to hand over, and the store would loop on create() (NO_ROOM) without end.
    let first = false;
    while (this.#waiters.size === 0 && this.#store.available > this.#store.pending) {
      const lease = this.#check(await this.#store.acquire(), stack);
      if (lease) return this.#lent(lease, started);
      // The idle connection was broken: later callers may have queued meanwhile, but this one came first.
      first = true;
    }
    const lease = await this.#wait(
      options?.timeoutMillis ?? this.settings.acquireTimeoutMillis,
      signal,
      stack,
      started,
      first,
    );
    return this.#lent(lease, started);
  }

  /**
   * Opens a connection the store asked for to keep `min`. Waiters that arrive meanwhile count on it (see
   * `#dispatch`), so once it has settled the queue is served again. generic-pool puts a created connection into
   * its idle list in a continuation of the promise `create()` returned, so it is there by the next macrotask;
   * `pool-fixed-size.test.ts` fails if a generic-pool upgrade changes that.
   */
  #keepMin(): Promise<pg.Client> {
    this.#storeCreating++;
    return this.#factory.connect().finally(() => {
      this.#storeCreating--;
      setImmediate(() => this.#dispatch());
    });
  }

  /** No idle connection free for a new caller and no room to open one: a new acquire waits for a return. */
  #noFreeConnection(): boolean {
    const store = this.#store;
    const idleFree = this.#waiters.size === 0 && store.available > store.pending;
    return !idleFree && store.size + this.#connecting >= this.settings.max;
  }

  #checkNested(stack: Error | undefined): void {
    const frame = findFrame(this);
    if (!frame || (frame.holdsConnection && !frame.holdsConnection())) return;
    if (this.settings.nestedAcquire === 'error') throw new NestedAcquireError();
    if (!this.log.isLevelEnabled('warn')) return;
    // The inner acquirer's stack (taken now, when not already taken for leak detection) and the outer scope's
    // id, which leads to its own lines; its stack too when leak detection captured it.
    const outer = (frame.handle as { scopeId?: unknown }).scopeId;
    this.log.warn(
      {
        event: LogEvent.nestedAcquire,
        scopeId: typeof outer === 'string' ? outer : undefined,
        stack: (stack ?? new Error('nested acquire here')).stack,
        outerStack: frame.acquiredAt?.stack,
      },
      'nested acquire: this code already holds a connection of the same pool; a full pool can deadlock',
    );
  }

  #check(client: pg.Client, stack: Error | undefined): Lease | undefined {
    const info = this.#factory.info(client);
    if (!info || info.brokenBy !== undefined || performance.now() >= info.expiresAt || this.#closing) {
      const reason = this.#closing
        ? 'pool closed'
        : info?.brokenBy !== undefined || !info
          ? 'broken'
          : 'expired';
      this.#storeDestroy(client, reason);
      return undefined;
    }
    this.#factory.markIdle(client, false);
    info.uses++;
    return new Lease(this, client, info, stack);
  }

  #lent(lease: Lease, started: number): Lease {
    this.#leases.add(lease);
    this.totals.acquired++;
    logLent(this.log, lease, lease.acquiredAt - started, this.settings.slowAcquireMillis, this);
    return lease;
  }

  #wait(
    timeoutMillis: number,
    signal: AbortSignal | undefined,
    stack: Error | undefined,
    started: number,
    first: boolean,
  ) {
    return new Promise<Lease>((resolve, reject) => {
      const s = this.settings;
      const full = this.#store.size + this.#connecting >= s.max;
      // Fail fast only when every connection the pool may have is borrowed or already promised to an earlier
      // caller: a connection still being opened (by min-keeping, or for this queue) is one to wait for.
      if (timeoutMillis === 0 && this.#leases.size + (first ? 0 : this.#waiters.size) >= s.max) {
        return reject(this.#exhausted('no-wait', started));
      }
      // Callers waiting only for a connection the pool still has room to open do not count against maxWaiting
      // (so `maxWaiting: 0` means "never wait for a borrowed connection"); the queue stays bounded by
      // maxWaiting + max even while the server is down.
      if (this.#waiters.size >= s.maxWaiting + Math.max(0, s.max - this.#leases.size)) {
        return reject(this.#exhausted('queue-full', started));
      }
      if (this.#gate.permanent && this.#gate.delayMillis() > 0 && !full) {
        return reject(this.#connectError(started));
      }
      // With timeout 0 a caller never waits for a borrowed connection, only for one being opened for it.
      const limit = timeoutMillis === 0 ? s.connectTimeoutMillis : timeoutMillis;
      const waiter: Waiter = {
        startedAt: started,
        deadline: performance.now() + limit,
        stack,
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
        node: undefined,
      };
      if (limit !== Number.POSITIVE_INFINITY) {
        waiter.timer = setTimeout(() => this.#expire(waiter), timerDelay(limit));
      }
      if (signal) {
        waiter.onAbort = () => this.#leave(waiter, signal.reason);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      if (first) this.#requeueFront(waiter);
      else waiter.node = this.#waiters.push(waiter);
      this.#dispatch();
    });
  }

  #settle(waiter: Waiter): void {
    if (waiter.node) this.#waiters.remove(waiter.node);
    clearTimeout(waiter.timer);
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
  }

  #leave(waiter: Waiter, err: unknown): void {
    if (!waiter.node?.queued) return;
    this.#settle(waiter);
    waiter.reject(err);
  }

  #expire(waiter: Waiter): void {
    if (!waiter.node?.queued) return;
    const failedWhileWaiting = this.#gate.lastFailureAt >= waiter.startedAt && this.#gate.failures > 0;
    this.#settle(waiter);
    waiter.reject(
      failedWhileWaiting && this.#leases.size < this.settings.max
        ? this.#connectError(waiter.startedAt)
        : this.#exhausted('timeout', waiter.startedAt, failedWhileWaiting),
    );
  }

  #exhausted(reason: PoolExhaustedReason, started: number, withCause = false): PoolExhaustedError {
    this.totals.exhausted++;
    const oldest = this.#oldestLease();
    const err = new PoolExhaustedError(
      reason,
      this.stats(),
      performance.now() - started,
      withCause ? this.#gate.lastFailure : undefined,
      oldest ? { scopeId: oldest.id, stack: oldest.acquiredStack?.stack } : undefined,
    );
    // A burst of rejected acquires is one line at once, then at most one a second with the count.
    this.#exhaustedLog.note(() => ({
      fields: {
        event: LogEvent.exhausted,
        reason,
        stats: err.stats,
        waitMillis: Math.round(err.waitedMillis),
        longestBorrowScopeId: err.longestBorrowScopeId,
        longestBorrowStack: err.longestBorrowStack,
      },
      msg: err.message,
    }));
    return err;
  }

  #connectError(started: number): ConnectError {
    const gate = this.#gate;
    const waited = Math.round(performance.now() - started);
    const cause = gate.lastFailure;
    const what = thrownMessage(cause);
    return new ConnectError(
      gate.permanent
        ? `could not connect to the server: ${this.#redactor.text(what)}`
        : `could not connect to the server within ${waited} ms (${gate.failures} failed attempts; last: ${this.#redactor.text(what)})`,
      cause,
    );
  }

  /** Hands a connection to the oldest waiter, or back to the store when nobody waits. */
  #deliver(client: pg.Client): void {
    const waiter = this.#waiters.size > 0 && !this.#closing ? this.#waiters.shift() : undefined;
    if (!waiter) {
      this.#storeRelease(client);
      return;
    }
    waiter.node = undefined;
    const lease = this.#check(client, waiter.stack);
    if (!lease) {
      // Broken on arrival: the waiter goes back to the front of the line.
      this.#requeueFront(waiter);
      this.#dispatch();
      return;
    }
    this.#settle(waiter);
    waiter.resolve(lease);
  }

  #requeueFront(waiter: Waiter): void {
    // Rare path (a broken idle connection met a waiter): rebuild the queue with this waiter first.
    const rest: Waiter[] = [];
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) rest.push(w);
    waiter.node = this.#waiters.push(waiter);
    for (const w of rest) w.node = this.#waiters.push(w);
  }

  /** Matches waiters with idle connections, and opens new ones while there is room. */
  #dispatch(): void {
    if (this.#closing) return;
    // An idle connection goes to a waiter even while connection jobs run: a job may be sleeping in backoff
    // (server failing, out of slots) for seconds, and its waiter must not time out beside an idle connection.
    let unserved = this.#waiters.size - this.#inboundIdle;
    const store = this.#store;
    // Only connections not already owed to a pending store acquire (see the fast path in lease()).
    while (unserved > 0 && store.available > store.pending) {
      unserved--;
      this.#toQueue(store.acquire());
    }
    // Waiters that connections being opened (by our jobs, or by the store for `min`) will serve need no job.
    let uncovered = unserved - this.#connecting - this.#storeCreating;
    while (uncovered > 0 && store.size + this.#connecting < this.settings.max) {
      // While the server is failing, one attempt at a time.
      if (this.#gate.failures > 0 && this.#connecting > 0) break;
      if (this.#gate.permanent && this.#gate.delayMillis() > 0) break;
      uncovered--;
      this.#startJob();
    }
  }

  #startJob(): void {
    this.#connecting++;
    const job = this.#runJob().finally(() => {
      this.#connecting--;
      this.#jobs.delete(job);
      this.#dispatch();
    });
    this.#jobs.add(job);
  }

  /** Opens one connection for the queue, retrying transient failures with paced backoff while callers wait. */
  async #runJob(): Promise<void> {
    const stop = this.#stopping.signal;
    for (;;) {
      const delay = this.#nextAttemptDelay();
      if (delay > 0) {
        await sleep(delay, undefined, { signal: stop }).catch(() => {
          // Aborted: the pool is closing, checked right below.
        });
      }
      if (this.#closing) return;
      let client: pg.Client;
      try {
        client = await this.#factory.connect();
      } catch (err) {
        this.#connectFailed(err);
        if (this.#gate.permanent) {
          this.#rejectAllWaiters(() => this.#connectError(performance.now()));
          return;
        }
        // Keep trying only while callers wait and no other job carries on.
        if (this.#waiters.size === 0 || this.#connecting > 1 || this.#closing) return;
        continue;
      }
      this.#gate.succeeded();
      if (this.#closing) {
        await this.#factory.destroy(client, 'pool closed');
        return;
      }
      // Enter the store through its own create() so it counts the connection, then serve the queue.
      this.#handoff.push(client);
      const acquired = this.#store.acquire();
      if (this.#handoff.includes(client)) {
        // The store served that acquire from an idle connection instead: this one is surplus.
        this.#handoff.splice(this.#handoff.indexOf(client), 1);
        void this.#factory.destroy(client, 'not needed');
      }
      this.#toQueue(acquired);
      return;
    }
  }

  /**
   * The backoff before the next connection attempt, brought forward when it would end past the oldest waiter's
   * last chance (its deadline less LAST_ATTEMPT_LEAD_MILLIS): one attempt then starts at that last chance (never
   * sooner than the first backoff step after the last failure), so a server back by then serves the waiter.
   * Once that attempt has failed, the backoff runs its course.
   */
  #nextAttemptDelay(): number {
    const gate = this.#gate;
    const delay = gate.delayMillis();
    const head = this.#waiters.peek();
    if (delay === 0 || !head || head.deadline === Number.POSITIVE_INFINITY) return delay;
    const lastChance = head.deadline - LAST_ATTEMPT_LEAD_MILLIS;
    if (gate.lastFailureAt >= lastChance) return delay;
    const now = performance.now();
    if (now + delay <= lastChance) return delay;
    const at = Math.max(lastChance, gate.lastFailureAt + ConnectGate.BASE_DELAY_MILLIS);
    return at < head.deadline ? Math.max(0, Math.min(delay, at - now)) : delay;
  }

  /**
   * A connection broke: if it sits idle in the store, take it out now rather than at the next acquire, so
   * `stats()` (idle, size) tells the truth and `min` is kept. The store has no way to remove one idle
   * connection, so every idle connection not owed to a pending acquire is taken, the broken ones destroyed
   * and the rest handed on as returned connections are. Batched: pg reports one break twice.
   */
  #scheduleIdleSweep(): void {
    if (this.#sweepScheduled || this.#closing) return;
    this.#sweepScheduled = true;
    setImmediate(() => {
      this.#sweepScheduled = false;
      const store = this.#store;
      if (this.#closing || this.#waiters.size > 0) return;
      const taken: Promise<pg.Client>[] = [];
      for (let n = store.available - store.pending; n > 0; n--) taken.push(store.acquire());
      for (const acquired of taken) {
        acquired.then(
          (client) => {
            if (this.#factory.info(client)?.brokenBy !== undefined) this.#storeDestroy(client, 'broken');
            else this.#deliver(client);
          },
          () => {
            // Only a closing store rejects; close() cleans up.
          },
        );
      }
    });
  }

  /** Hands the connection a store acquire resolves with to the head of the queue, counting it meanwhile. */
  #toQueue(acquired: Promise<pg.Client>): void {
    this.#inboundIdle++;
    acquired.then(
      (client) => {
        this.#inboundIdle--;
        this.#deliver(client);
      },
      () => {
        // Only a closing store rejects; the waiters are rejected by close().
        this.#inboundIdle--;
      },
    );
  }

  #connectFailed(err: unknown): void {
    const permanent = !isTransientConnectError(err);
    this.#gate.failed(err, permanent);
    // An attempt that close() aborted is no failure worth a warning.
    const level = this.#closing ? 'debug' : 'warn';
    if (!this.log.isLevelEnabled(level)) return;
    this.log[level](
      {
        event: LogEvent.connectError,
        attempt: this.#gate.failures,
        code: thrownField(err, 'code'),
        permanent,
        // The stack only on the first failure of a run: the next ones repeat it.
        err: this.#gate.failures === 1 ? err : withoutStack(err),
      },
      'connection attempt failed',
    );
  }

  #rejectAllWaiters(makeError: () => unknown): void {
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) {
      w.node = undefined;
      this.#settle(w);
      w.reject(makeError());
    }
  }

  /** @internal LeaseOwner: the exactly-once return of a lease's connection. */
  giveBack(lease: Lease, destroyReason: string | undefined): Promise<void> {
    if (destroyReason !== undefined) {
      this.#settleReturn(lease, destroyReason);
      return RESOLVED;
    }
    const quick = this.#quickCheck(lease);
    if (quick !== NEEDS_RESET) {
      // The common case: nothing to send to the server, so no await and no extra promise.
      this.#settleReturn(lease, quick);
      return RESOLVED;
    }
    return this.#reset(lease).then(
      (reason) => this.#settleReturn(lease, reason),
      () => this.#settleReturn(lease, 'reset failed'),
    );
  }

  /** The pool's side of a returned lease, once its connection's fate is known (`reason`: destroy it). */
  #settleReturn(lease: Lease, reason: string | undefined): void {
    const client = lease.rawClient;
    this.#leases.delete(lease);
    logReturned(this.log, lease);
    // A healthy connection goes straight to the oldest waiter (back to the store only when nobody waits):
    // a round through the store's release and acquire costs CPU and leaves the connection idle meanwhile.
    if (reason === undefined && lease.info.brokenBy === undefined && !this.#closing) this.#deliver(client);
    else this.#storeDestroy(client, reason ?? (this.#closing ? 'pool closed' : 'broken'), lease);
  }

  /**
   * What a returned connection needs without asking the server: a destroy reason, undefined when it can be
   * reused as it is, or NEEDS_RESET when a ROLLBACK or DISCARD ALL must run first.
   */
  #quickCheck(lease: Lease): string | undefined | typeof NEEDS_RESET {
    const info = lease.info;
    if (info.brokenBy !== undefined) return 'broken';
    if (info.inflight > 0) return 'query still running';
    if (performance.now() >= info.expiresAt) return 'expired';
    if (info.uses >= this.settings.maxUses) return 'max uses';
    if (lease.transactionStatus() !== 'I' || this.settings.resetOnRelease === 'discard') return NEEDS_RESET;
    return undefined;
  }

  /** Rolls back and/or discards session state; the destroy reason when that fails. */
  async #reset(lease: Lease): Promise<string | undefined> {
    const client = lease.rawClient;
    const status = lease.transactionStatus();
    try {
      if (status !== 'I' && this.log.isLevelEnabled('warn')) {
        this.log.warn(
          { event: LogEvent.reset, scopeId: lease.id, transactionStatus: status },
          'connection returned inside a transaction; rolling back',
        );
      }
      if (status !== 'I') await client.query('ROLLBACK');
      if (this.settings.resetOnRelease === 'discard') await client.query('DISCARD ALL');
    } catch (err) {
      if (this.log.isLevelEnabled('warn')) {
        this.log.warn(
          { event: LogEvent.reset, scopeId: lease.id, err },
          'reset failed; destroying the connection',
        );
      }
      return 'reset failed';
    }
    if (lease.transactionStatus() !== 'I') return 'reset failed';
    return undefined;
  }

  #storeRelease(client: pg.Client): void {
    this.#factory.markIdle(client, true);
    this.#store.release(client).then(
      () => this.#dispatch(),
      () => {
        // Not a loan of the store (cannot happen by construction); nothing to give back.
      },
    );
  }

  #storeDestroy(client: pg.Client, reason: string, lease?: Lease): void {
    this.#destroyReasons.set(client, { reason, lease });
    this.#store.destroy(client).then(
      () => this.#dispatch(),
      () => {
        // Not a loan of the store (cannot happen by construction).
      },
    );
  }

  /** Why the store closes a connection the pool did not ask it to close (idle eviction, clear at close). */
  #evictionReason(client: pg.Client): string {
    if (this.#closing) return 'pool closed';
    return this.#factory.info(client)?.brokenBy !== undefined ? 'broken' : 'idle';
  }

  /** @internal LeaseOwner. */
  noteQueryError(client: pg.Client, err: unknown): void {
    this.#factory.noteQueryError(client, err);
  }

  /**
   * @internal Runs `fn` inside a frame that marks this pool's scope in the async context (nested-acquire
   * detection, `pool.current()`, ambient queries). `isOpen`: whether the scope still holds its connection.
   */
  inFrame<T>(
    handle: object,
    isOpen: () => boolean,
    acquiredAt: Error | undefined,
    fn: () => T,
    holdsConnection?: () => boolean,
  ): T {
    return runInFrame(
      holdsConnection
        ? { pool: this, handle, isOpen, acquiredAt, holdsConnection }
        : { pool: this, handle, isOpen, acquiredAt },
      fn,
    );
  }

  /**
   * Closes the pool: new acquires and waiting acquirers reject with PoolClosedError; borrowed connections get
   * `timeoutMillis` to come back, then are destroyed. Idempotent.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#closing) return this.#closing;
    const timeoutMillis =
      options?.timeoutMillis === undefined
        ? 10_000
        : checkMillis('timeoutMillis', options.timeoutMillis, { allowZero: true, allowInfinity: true });
    this.#closing = this.#close(timeoutMillis);
    return this.#closing;
  }

  async #close(timeoutMillis: number): Promise<void> {
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ event: LogEvent.close, stats: this.stats() }, 'closing pool');
    }
    this.#rejectAllWaiters(() => new PoolClosedError());
    this.#exhaustedLog.flush();
    this.#stopping.abort();
    clearInterval(this.#leakSweep);
    const deadline = performance.now() + timeoutMillis;
    // Closing connections (cancel requests, goodbyes) count against the same timeout.
    this.#factory.finishBy(deadline);
    this.#factory.abortConnecting();
    await pollUntil(() => this.#leases.size === 0, deadline, 25);
    await Promise.all([...this.#leases].map((lease) => lease.revoke('pool closed')));
    await Promise.allSettled([...this.#jobs]);
    while (this.#inboundIdle > 0) await new Promise((r) => setImmediate(r));
    for (const client of this.#handoff.splice(0)) await this.#factory.destroy(client, 'pool closed');
    await this.#store.drain();
    await this.#store.clear();
    await this.#factory.ended();
    this.#closed = true;
  }

  /** `JSON.stringify` shows the pool's name and counters, never its settings. */
  toJSON(): { name: string; closed: boolean; stats: PoolStats } {
    return { name: this.#name, closed: this.closed, stats: this.stats() };
  }

  /** `util.inspect` shows what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `PoolCore ${show(this.toJSON(), options)}`;
  }
}
