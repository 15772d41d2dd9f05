import { EventEmitter } from 'node:events';
import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import type { PoolStats } from '../stats.js';
import type { AmbientScope } from './ambient-scope.js';
import type { Connection } from './connection.js';
import { PgClientView, settle } from './pg-client-view.js';

/** What the view needs of the pool it stands for (the public `Pool`, without importing it). */
export interface ViewedPool {
  /** True when the current async context runs inside a scope of the pool. */
  inScope(): boolean;
  /** The ambient scope, opening a request's lazy transaction if needed. */
  ambient(): Promise<AmbientScope | undefined>;
  /** A connection of the pool for `await using`. */
  acquire(): Promise<Connection>;
  /** One query, in the ambient scope if there is one. */
  query(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult>;
  /** The pool's counters. */
  stats(): PoolStats;
  /** True once the pool's `close()` was called. */
  readonly closed: boolean;
  /** Closes the pool. */
  close(): Promise<void>;
}

/**
 * The `pg.Pool`-compatible view returned by `pool.pgPool()`: `connect()`, `query()` (promise or callback),
 * `end()`, the events `'connect'`, `'acquire'`, `'release'` and `'remove'`, and the counts pg.Pool reports.
 * See `pool.pgPool()` and docs/pg-pool-view.md for what it does differently.
 */
export class PgPoolView extends EventEmitter {
  readonly #pool: ViewedPool;
  /** Work started through the view and not yet settled; `end()` waits for it. */
  readonly #pending = new Set<Promise<unknown>>();
  #ending: Promise<void> | undefined;
  #ended = false;

  constructor(pool: ViewedPool) {
    super();
    this.#pool = pool;
  }

  /** @internal The pool tells the view of each connection opened and destroyed. */
  readonly connectionObserver = {
    opened: (client: pg.Client): void => this.#emitSafely('connect', client),
    closed: (client: pg.Client): void => this.#emitSafely('remove', client),
  };

  #emitSafely(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      // A listener that throws must not break the pool's connection handling: report it as pg would, uncaught.
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** Open connections plus those being opened. */
  get totalCount(): number {
    return this.#pool.stats().size;
  }
  /** Open connections waiting in the pool. */
  get idleCount(): number {
    return this.#pool.stats().idle;
  }
  /** Callers waiting for a connection (updated in the same tick as `connect()`). */
  get waitingCount(): number {
    return this.#pool.stats().waiting;
  }
  /** Connections past their lifetime still open: always 0, as pg-scope closes one when it is next taken or returned. */
  get expiredCount(): number {
    return 0;
  }
  /** True once `end()` was called (or the pool closed). */
  get ending(): boolean {
    return this.#ending !== undefined || this.#pool.closed;
  }
  /** True once `end()` has finished. */
  get ended(): boolean {
    return this.#ended;
  }

  /** `JSON.stringify`: the counts pg.Pool reports; never the pool's settings. */
  toJSON(): { totalCount: number; idleCount: number; waitingCount: number; ending: boolean } {
    const stats = this.#pool.stats();
    return {
      totalCount: stats.size,
      idleCount: stats.idle,
      waitingCount: stats.waiting,
      ending: this.ending,
    };
  }

  /** `util.inspect`: what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `PgPoolView ${show(this.toJSON(), options)}`;
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#pending.add(promise);
    const forget = () => this.#pending.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  #refuseEnded(): Promise<never> | undefined {
    if (this.#ending === undefined) return undefined;
    return Promise.reject(new Error('Cannot use a pool after calling end on the pool'));
  }

  /** A client: joined to the ambient transaction if there is one, else on a connection of its own. */
  connect(
    callback?: (
      err: Error | undefined,
      client?: PgClientView,
      done?: (err?: Error | boolean) => void,
    ) => void,
  ): unknown {
    const promise = this.#refuseEnded() ?? this.#track(this.#checkout());
    if (!callback) return promise;
    promise.then(
      (client) =>
        process.nextTick(callback, undefined, client, (err?: Error | boolean) => client.release(err)),
      (err: Error) => process.nextTick(callback, err),
    );
    return undefined;
  }

  #checkout(): Promise<PgClientView> {
    const pool = this.#pool;
    if (pool.inScope()) {
      return pool.ambient().then((scope) => (scope ? this.#joined(scope) : this.#own()));
    }
    // Synchronously to the pool's queue, so waitingCount counts this caller in the same tick.
    return this.#own();
  }

  #joined(scope: AmbientScope): PgClientView {
    const raw = 'rawClient' in scope ? scope.rawClient('connect through pgPool()', false) : scope.client;
    return PgClientView.expose(new PgClientView(scope, undefined, raw));
  }

  async #own(): Promise<PgClientView> {
    const conn = await this.#pool.acquire();
    let client: PgClientView;
    try {
      client = PgClientView.expose(
        new PgClientView(conn, conn, conn.client, (err) => this.#emitSafely('release', err, client)),
      );
    } catch (err) {
      await conn.release();
      throw err;
    }
    this.#emitSafely('acquire', client);
    return client;
  }

  /** One query: in the ambient scope if there is one, else on a pooled connection. */
  query(q: string | pg.QueryConfig, valuesOrCb?: unknown, cb?: unknown): unknown {
    const values = Array.isArray(valuesOrCb) ? (valuesOrCb as unknown[]) : undefined;
    const run =
      this.#refuseEnded() ??
      this.#track(
        this.#pool.inScope()
          ? this.#pool.query(q, values)
          : this.#own().then(async (client) => {
              try {
                return (await client.query(q, values)) as pg.QueryResult;
              } finally {
                client.release();
              }
            }),
      );
    return settle(run, valuesOrCb, cb);
  }

  /**
   * Closes the pg-scope pool behind this view, after the work started through the view has settled (a query
   * sent just before `end()` still runs). A second call rejects, as pg.Pool's does.
   */
  end(callback?: (err?: Error) => void): Promise<void> | undefined {
    let p: Promise<void>;
    if (this.#ending) p = Promise.reject(new Error('Called end on pool more than once'));
    else {
      p = (async () => {
        while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
        await this.#pool.close();
        this.#ended = true;
      })();
      this.#ending = p;
    }
    if (!callback) return p;
    p.then(
      () => process.nextTick(callback),
      (err: Error) => process.nextTick(callback, err),
    );
    return undefined;
  }
}
