import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import { ConfigError, ConnectError, type PoolStats } from '../errors.js';
import { raceTimeout } from '../util/timers.js';
import { isConnectionLoss } from './connect-errors.js';
import type { PoolConnection } from './connection.js';
import type { Lease } from './lease.js';
import { type AcquireOptions, type CloseOptions, PoolCore } from './pool-core.js';
import { checkAcquireOptions, checkMillis, describeValue, type PoolSettings } from './pool-options.js';

/** Options of `pool.ping()`. */
export interface PingOptions {
  /**
   * Bound on the whole check: getting a connection (waiting, or opening one) and its round trip. Default: the
   * pool's `acquireTimeoutMillis`, or 10 000 when that is 0 or Infinity.
   */
  timeoutMillis?: number;
}

/**
 * The acquire half of the public pool: `acquire()` in both scope forms, `query()`, `stats()`, `close()`.
 * `Pool` (in `src/tx`) adds transactions on top; this class knows nothing of them.
 */
export abstract class PoolBase<C extends PoolConnection> implements AsyncDisposable {
  readonly #core: PoolCore;

  /** @internal Use `createPool`. */
  constructor(settings: PoolSettings) {
    this.#core = new PoolCore(settings);
  }

  /** @internal A getter over a private field, so serialising the pool never walks into its settings. */
  protected get core(): PoolCore {
    return this.#core;
  }

  /** @internal Wraps a lease in the handle users get. */
  protected abstract makeConnection(lease: Lease): C;

  /**
   * Callback form: lends a connection to `fn` and gives it back when `fn` settles, whatever happens. Resolves
   * with `fn`'s value, rejects with `fn`'s error (the same object). A transaction `fn` left open by hand is
   * rolled back (logged at warn) before the connection is reused.
   *
   * `await using` form (no callback): resolves with a connection that is given back when the block ends.
   *
   * Rejects with `PoolExhaustedError`, `ConnectError`, `PoolClosedError`, `NestedAcquireError`, `ConfigError`
   * or the abort signal's reason.
   */
  acquire<T>(fn: (conn: C) => Promise<T> | T, options?: AcquireOptions): Promise<T>;
  acquire(options?: AcquireOptions): Promise<C>;
  async acquire<T>(
    fnOrOptions?: ((conn: C) => Promise<T> | T) | AcquireOptions,
    maybeOptions?: AcquireOptions,
  ): Promise<T | C> {
    const core = this.core;
    if (typeof fnOrOptions !== 'function') {
      checkAcquireOptions(fnOrOptions);
      return this.makeConnection(await core.lease(fnOrOptions));
    }
    checkAcquireOptions(maybeOptions);
    const lease = await core.lease(maybeOptions);
    const conn = this.makeConnection(lease);
    try {
      return await core.inFrame(
        conn,
        () => lease.state === 'leased',
        lease.acquiredStack,
        () => fnOrOptions(conn),
      );
    } finally {
      await lease.end();
    }
  }

  /**
   * Runs one query on a connection of the pool (acquired and given back around it). Takes what
   * `pg.Client#query` takes; database errors are pg's own objects.
   */
  query<R extends unknown[] = unknown[]>(
    config: pg.QueryArrayConfig,
    values?: unknown[],
  ): Promise<pg.QueryArrayResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    const lease = await this.core.lease();
    try {
      return await lease.query<R>(text, values);
    } finally {
      await lease.end();
    }
  }

  /**
   * A readiness check (health endpoint, start-up): borrows an idle connection or opens one, runs one round trip
   * (`SELECT 1`), gives the connection back, and resolves with that round trip's latency in milliseconds.
   * Rejects with `PoolExhaustedError` when every connection stays borrowed for `timeoutMillis`, with
   * `ConnectError` when no connection could be opened in time or the server did not answer (or lost the
   * connection) within the time left (that connection is then destroyed), with `PoolClosedError` or
   * `ConfigError`. Not a nested acquire: it is bounded by its timeout.
   */
  async ping(options?: PingOptions): Promise<number> {
    const timeoutMillis = pingTimeout(options, this.core.settings);
    const started = performance.now();
    const lease = await this.core.lease({ timeoutMillis }, false);
    const sent = performance.now();
    let failed: string | undefined;
    try {
      await raceTimeout(
        lease.query('SELECT 1'),
        Math.max(1, started + timeoutMillis - sent),
        () => new ConnectError(`ping: no answer from the server within ${timeoutMillis} ms`, undefined),
      );
      return performance.now() - sent;
    } catch (err) {
      failed = 'broken';
      if (err instanceof ConnectError) throw err;
      throw new ConnectError(
        `ping failed: ${isConnectionLoss(err) ? 'connection lost' : 'the server refused SELECT 1'}`,
        err,
      );
    } finally {
      // An unanswered ping leaves its query running: the pool destroys that connection (cancelling it).
      await lease.end(lease.info.inflight > 0 ? undefined : failed);
    }
  }

  /** Counters and running totals. */
  stats(): PoolStats {
    return this.core.stats();
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.core.closed;
  }

  /**
   * New acquires and waiting acquirers reject with `PoolClosedError`; borrowed connections get `timeoutMillis`
   * (default 10 000) to come back, then are destroyed (the server rolls back their transactions). Idempotent:
   * a second call returns the first call's promise. Never rejects for a connection that fails to close.
   */
  close(options?: CloseOptions): Promise<void> {
    return this.core.close(options);
  }

  /** `JSON.stringify` (and so pino, given `{ pool }`): the pool's name, whether it is closed, and its counters. */
  toJSON(): {
    /** The pool's name (as in its log lines). */
    name: string;
    /** Whether `close()` was called. */
    closed: boolean;
    /** `stats()` at the time of the call. */
    stats: PoolStats;
  } {
    return this.#core.toJSON();
  }

  /** `util.inspect`: what {@link toJSON} shows; never the settings, which hold the password. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `${this.constructor.name} ${show(this.toJSON(), options)}`;
  }

  /** `await using pool = createPool(...)`: closes the pool. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Validates `pool.ping()`'s options; the timeout to use. */
function pingTimeout(options: PingOptions | undefined, settings: PoolSettings): number {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new ConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options ?? {})) {
    if (key !== 'timeoutMillis') throw new ConfigError(key, 'unknown ping option; allowed: timeoutMillis');
  }
  if (options?.timeoutMillis !== undefined) return checkMillis('timeoutMillis', options.timeoutMillis);
  const acquire = settings.acquireTimeoutMillis;
  return acquire === 0 || acquire === Number.POSITIVE_INFINITY ? 10_000 : acquire;
}

export type { AcquireOptions, CloseOptions };
