import { EventEmitter } from 'node:events';
import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import type { Connection } from './connection.js';
import type { AmbientScope, Pool } from './pool.js';
import type { Transaction } from './transaction.js';

type Callback = (err: Error | null, result?: pg.QueryResult) => void;
type QueryInput = string | pg.QueryConfig | { submit: (...args: unknown[]) => void };

const BEGIN = /^\s*(begin|start\s+transaction)\b/i;
const COMMIT = /^\s*(commit|end)\s*;?\s*$/i;
const ROLLBACK = /^\s*(rollback|abort)\s*;?\s*$/i;

function isSubmittable(q: unknown): q is { submit: (...args: unknown[]) => void } {
  return typeof (q as { submit?: unknown } | null)?.submit === 'function';
}

function textOf(q: QueryInput): string | undefined {
  if (typeof q === 'string') return q;
  return isSubmittable(q) ? undefined : q.text;
}

function tagOnly(command: string): pg.QueryResult {
  return { command, rowCount: null, oid: 0, rows: [], fields: [] };
}

/** Splits pg's `(text, values?, callback?)` arguments and settles a callback if given. */
function settle<T>(promise: Promise<T>, valuesOrCb: unknown, cb: unknown): Promise<T> | undefined {
  const callback = (typeof valuesOrCb === 'function' ? valuesOrCb : cb) as Callback | undefined;
  if (!callback) return promise;
  promise.then(
    (r) => callback(null, r as pg.QueryResult),
    (e: Error) => callback(e),
  );
  return undefined;
}

/**
 * A client handed out by {@link PgPoolView.connect}. On a connection of its own it passes everything through;
 * joined to an ambient pg-scope transaction it turns the tool's BEGIN / COMMIT / ROLLBACK into a savepoint,
 * so the tool's "transaction" commits or rolls back with the enclosing one.
 */
class PgClientView extends EventEmitter {
  readonly #scope: AmbientScope;
  readonly #owned: Connection | undefined;
  readonly #savepoints: Transaction[] = [];

  constructor(scope: AmbientScope, owned: Connection | undefined) {
    super();
    this.#scope = scope;
    this.#owned = owned;
  }

  query(q: QueryInput, valuesOrCb?: unknown, cb?: unknown): unknown {
    if (isSubmittable(q)) {
      // Cursors and streams talk to the raw client (as pg.PoolClient does); the scope still owns the connection.
      const conn = this.#owned ?? (this.#scope as Connection);
      return (conn.client as { query: (q: unknown) => unknown }).query(q);
    }
    const values = Array.isArray(valuesOrCb) ? (valuesOrCb as unknown[]) : undefined;
    return settle(this.#run(q, values), valuesOrCb, cb);
  }

  async #run(q: string | pg.QueryConfig, values: unknown[] | undefined): Promise<pg.QueryResult> {
    const text = textOf(q) ?? '';
    const joined = this.#owned === undefined && 'commit' in this.#scope;
    if (joined) {
      const tx = this.#scope as Transaction;
      const top = this.#savepoints.at(-1) ?? tx;
      if (BEGIN.test(text)) {
        this.#savepoints.push(await top.transaction());
        return tagOnly('BEGIN');
      }
      const sp = this.#savepoints.at(-1);
      if (sp && COMMIT.test(text)) {
        this.#savepoints.pop();
        await sp.commit();
        return tagOnly('COMMIT');
      }
      if (sp && ROLLBACK.test(text)) {
        this.#savepoints.pop();
        await sp.rollback();
        return tagOnly('ROLLBACK');
      }
      return top.query(q, values);
    }
    return this.#scope.query(q, values);
  }

  /** `JSON.stringify`: the id of the scope it runs in and whether it joined a transaction; never the client. */
  toJSON(): { scopeId: string; joined: boolean } {
    return { scopeId: this.#scope.scopeId, joined: this.#owned === undefined && 'commit' in this.#scope };
  }

  /** `util.inspect`: what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `PgClientView ${show(this.toJSON(), options)}`;
  }

  /** Gives the connection back (destroys it when `err` is truthy, like pg.Pool). Joined: ends open savepoints. */
  release(err?: Error | boolean): void {
    for (const sp of this.#savepoints.splice(0).reverse()) {
      void sp[Symbol.asyncDispose]();
    }
    if (!this.#owned) return;
    void (err ? this.#owned.discard() : this.#owned.release());
  }
}

/**
 * The `pg.Pool`-compatible view returned by `pool.pgPool()`: `connect()`, `query()` (promise or callback),
 * `end()`, and the counts pg.Pool reports. See {@link Pool.pgPool}.
 */
export class PgPoolView extends EventEmitter {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    super();
    this.#pool = pool;
  }

  get totalCount(): number {
    return this.#pool.stats().size;
  }
  get idleCount(): number {
    return this.#pool.stats().idle;
  }
  get waitingCount(): number {
    return this.#pool.stats().waiting;
  }
  get ending(): boolean {
    return this.#pool.closed;
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

  /** A client: joined to the ambient transaction if there is one, else on a connection of its own. */
  connect(callback?: (err: Error | null, client?: PgClientView, done?: () => void) => void): unknown {
    const promise = (async () => {
      const scope = await this.#pool.ambient();
      if (scope) return new PgClientView(scope, undefined);
      const conn = await this.#pool.acquire();
      return new PgClientView(conn, conn);
    })();
    if (!callback) return promise;
    promise.then(
      (client) => callback(null, client, () => client.release()),
      (err: Error) => callback(err),
    );
    return undefined;
  }

  /** One query: in the ambient scope if there is one, else on a pooled connection. */
  query(q: string | pg.QueryConfig, valuesOrCb?: unknown, cb?: unknown): unknown {
    const values = Array.isArray(valuesOrCb) ? (valuesOrCb as unknown[]) : undefined;
    return settle(this.#pool.query(q, values), valuesOrCb, cb);
  }

  /** Closes the pg-scope pool behind this view. */
  end(callback?: () => void): Promise<void> | undefined {
    const p = this.#pool.close();
    if (!callback) return p;
    p.then(callback, callback);
    return undefined;
  }
}
