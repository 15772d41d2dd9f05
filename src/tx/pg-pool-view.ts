import { EventEmitter } from 'node:events';
import { type InspectOptions, inspect } from 'node:util';
import pg from 'pg';
import { ScopeClosedError, UnsupportedStatementError } from '../errors.js';
import type { Connection } from './connection.js';
import type { AmbientScope, Pool } from './pool.js';
import type { Transaction } from './transaction.js';

type Callback = (err: Error | undefined, result?: pg.QueryResult) => void;
type Submittable = { submit: (...args: unknown[]) => void };
type QueryInput = string | pg.QueryConfig | Submittable;

/** Leading whitespace and comments, skipped before a statement is classified. */
const LEADING = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;
const BARE_BEGIN = /^(?:begin(?:\s+(?:work|transaction))?|start\s+transaction)\s*;?\s*$/i;
const BARE_COMMIT = /^(?:commit|end)(?:\s+(?:work|transaction))?\s*;?\s*$/i;
const BARE_ROLLBACK = /^(?:rollback|abort)(?:\s+(?:work|transaction))?\s*;?\s*$/i;
/** `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`: the tool's own savepoint, passed through. */
const ROLLBACK_TO = /^rollback(?:\s+(?:work|transaction))?\s+to\b/i;
const TX_CONTROL = /^(?:begin|start\s+transaction|commit|end|rollback|abort)\b/i;

/** What a statement sent inside a joined transaction is, as far as the view cares. */
type Control = 'begin' | 'commit' | 'rollback' | 'refuse' | undefined;

/**
 * @internal How the view treats `text` inside a joined transaction: a bare BEGIN / COMMIT / ROLLBACK maps to a
 * savepoint; transaction control anywhere else (with options, or in any statement of a multi-statement text)
 * is refused; everything else (the tool's own SAVEPOINT / ROLLBACK TO included) runs as written.
 */
export function classifyControl(text: string): Control {
  const parts = statements(text);
  if (parts.length <= 1) return classifyOne(parts[0] ?? '');
  return parts.some((part) => classifyOne(part) !== undefined) ? 'refuse' : undefined;
}

function classifyOne(statement: string): Control {
  const s = statement.replace(LEADING, '');
  if (BARE_BEGIN.test(s)) return 'begin';
  if (BARE_COMMIT.test(s)) return 'commit';
  if (BARE_ROLLBACK.test(s)) return 'rollback';
  if (ROLLBACK_TO.test(s)) return undefined;
  return TX_CONTROL.test(s) ? 'refuse' : undefined;
}

const DOLLAR_TAG = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/;

/**
 * Splits `text` at the semicolons that end statements, skipping quoted strings and identifiers, dollar-quoted
 * bodies and comments; empty statements are dropped. A scan, not a parser: an `E'…\''` escape may end a
 * string early, which can only make the view refuse, never skip a statement it should have seen.
 */
function statements(text: string): string[] {
  if (!text.includes(';')) return [text];
  const out: string[] = [];
  const n = text.length;
  let start = 0;
  let i = 0;
  const skipTo = (end: number, width: number) => {
    i = end < 0 ? n : end + width;
  };
  while (i < n) {
    const ch = text[i];
    const next = text[i + 1];
    if (ch === "'" || ch === '"') skipTo(text.indexOf(ch, i + 1), 1);
    else if (ch === '-' && next === '-') skipTo(text.indexOf('\n', i), 1);
    else if (ch === '/' && next === '*') skipTo(text.indexOf('*/', i + 2), 2);
    else if (ch === '$' && DOLLAR_TAG.test(text.slice(i, i + 66))) {
      const tag = DOLLAR_TAG.exec(text.slice(i, i + 66))?.[0] ?? '$$';
      skipTo(text.indexOf(tag, i + tag.length), tag.length);
    } else {
      if (ch === ';') {
        out.push(text.slice(start, i));
        start = i + 1;
      }
      i++;
    }
  }
  out.push(text.slice(start));
  return out.filter((part) => part.replace(LEADING, '').length > 0);
}

function isSubmittable(q: unknown): q is Submittable {
  return typeof (q as { submit?: unknown } | null)?.submit === 'function';
}

function tagOnly(command: string): pg.QueryResult {
  return { command, rowCount: null, oid: 0, rows: [], fields: [] };
}

/**
 * Settles a pg-style callback if one is given (`valuesOrCb` or `cb`), else returns the promise. As pg does, the
 * callback gets `undefined` (not `null`) for no error, and runs outside the promise chain (on the next tick),
 * so a callback that throws is an uncaught exception, not an unhandled rejection nor a second callback.
 */
function settle<T>(promise: Promise<T>, valuesOrCb: unknown, cb: unknown): Promise<T> | undefined {
  const callback = (typeof valuesOrCb === 'function' ? valuesOrCb : cb) as Callback | undefined;
  if (!callback) return promise;
  promise.then(
    (r) => process.nextTick(callback, undefined, r as pg.QueryResult),
    (e: Error) => process.nextTick(callback, e),
  );
  return undefined;
}

/** Own properties every pg.Client has: never reached through a client view (they include the password). */
let clientInternals: ReadonlySet<PropertyKey> | undefined;
function isInternal(prop: PropertyKey): boolean {
  clientInternals ??= new Set(Reflect.ownKeys(new pg.Client()));
  return clientInternals.has(prop) || (typeof prop === 'string' && prop.startsWith('_'));
}

/** Events of the pg.Client a checked-out client view forwards while it is checked out. */
const FORWARDED = ['notification', 'notice'] as const;

/**
 * A client handed out by {@link PgPoolView.connect}: the pg.PoolClient surface (`query` with promise, callback
 * or Submittable, `release`, `end`, `escapeIdentifier`, `escapeLiteral`, `processID`, `'notification'` and
 * `'notice'` events, properties set on the connection in `onConnect` or a `'connect'` listener). On a connection
 * of its own it passes everything through; joined to an ambient pg-scope transaction it turns the tool's bare
 * BEGIN / COMMIT / ROLLBACK into a savepoint, so the tool's "transaction" commits or rolls back with the
 * enclosing one, and refuses other transaction control. After `release()` every use fails loudly.
 */
class PgClientView extends EventEmitter {
  readonly #scope: AmbientScope;
  readonly #owned: Connection | undefined;
  readonly #raw: pg.Client;
  readonly #savepoints: Transaction[] = [];
  readonly #onRelease: ((err: Error | boolean | undefined) => void) | undefined;
  readonly #forwarders: [string, (...args: unknown[]) => void][] = [];
  #released = false;

  constructor(
    scope: AmbientScope,
    owned: Connection | undefined,
    raw: pg.Client,
    onRelease?: (err: Error | boolean | undefined) => void,
  ) {
    super();
    this.#scope = scope;
    this.#owned = owned;
    this.#raw = raw;
    this.#onRelease = onRelease;
    for (const name of FORWARDED) {
      const forward = (...args: unknown[]) => this.emit(name, ...args);
      raw.on(name, forward);
      this.#forwarders.push([name, forward]);
    }
    const forwardError = (err: unknown) => {
      // pg.Client emits 'error' for a broken connection; a client view without a listener must not crash.
      if (this.listenerCount('error') > 0) this.emit('error', err);
    };
    raw.on('error', forwardError);
    this.#forwarders.push(['error', forwardError]);
  }

  /** @internal Wraps a view so that properties set on its connection (`onConnect`, `'connect'`) show through. */
  static expose(view: PgClientView): PgClientView {
    const bound = new Map<PropertyKey, unknown>();
    return new Proxy(view, {
      get(target, prop) {
        if (prop in target) {
          const value: unknown = Reflect.get(target, prop, target);
          if (typeof value !== 'function') return value;
          let fn = bound.get(prop);
          if (fn === undefined) {
            fn = value.bind(target);
            bound.set(prop, fn);
          }
          return fn;
        }
        if (target.#released || isInternal(prop) || !Object.hasOwn(target.#raw, prop)) return undefined;
        return Reflect.get(target.#raw, prop);
      },
      set(target, prop, value) {
        if (prop in target || target.#released) return Reflect.set(target, prop, value, target);
        // A tool's own marker (e.g. a prepared-statement cache) lives with the connection, as on a pg.Client.
        return isInternal(prop)
          ? Reflect.set(target, prop, value, target)
          : Reflect.set(target.#raw, prop, value);
      },
    });
  }

  /** The pg.Client, while checked out; `forQuery`: something is sent on it (a deferred BEGIN goes first). */
  #client(what: string, forQuery = true): pg.Client {
    if (this.#released) throw new ScopeClosedError(`cannot ${what}: the client was released`);
    if (this.#owned) return this.#owned.client;
    const scope = this.#scope;
    if (!('rawClient' in scope)) return scope.client;
    return (this.#savepoints.at(-1) ?? scope).rawClient(what, forQuery);
  }

  /** The backend's process id, as `pg.Client#processID`. */
  get processID(): number | null {
    return (this.#client('read processID', false) as unknown as { processID: number | null }).processID;
  }

  /** `pg.Client#escapeIdentifier`. */
  escapeIdentifier(str: string): string {
    return this.#raw.escapeIdentifier(str);
  }

  /** `pg.Client#escapeLiteral`. */
  escapeLiteral(str: string): string {
    return this.#raw.escapeLiteral(str);
  }

  query(q: QueryInput, valuesOrCb?: unknown, cb?: unknown): unknown {
    if (isSubmittable(q)) {
      // Cursors and streams talk to the raw client (as pg.PoolClient does); the scope still owns the connection.
      return (this.#client('submit a query') as unknown as { query: (q: unknown) => unknown }).query(q);
    }
    const values = Array.isArray(valuesOrCb) ? (valuesOrCb as unknown[]) : undefined;
    return settle(this.#run(q, values), valuesOrCb, cb);
  }

  async #run(q: string | pg.QueryConfig, values: unknown[] | undefined): Promise<pg.QueryResult> {
    if (this.#released) throw new ScopeClosedError('cannot query: the client was released');
    const text = typeof q === 'string' ? q : (q.text ?? '');
    if (this.#owned || !('commit' in this.#scope)) return this.#scope.query(q, values);
    const tx = this.#scope;
    const top = this.#savepoints.at(-1) ?? tx;
    switch (classifyControl(text)) {
      case 'begin':
        this.#savepoints.push(await top.transaction());
        return tagOnly('BEGIN');
      case 'commit':
      case 'rollback': {
        const sp = this.#savepoints.pop();
        if (!sp) throw refusal(text, 'no BEGIN of its own was sent through this client');
        if (classifyControl(text) === 'commit') await sp.commit();
        else await sp.rollback();
        return tagOnly(classifyControl(text) === 'commit' ? 'COMMIT' : 'ROLLBACK');
      }
      case 'refuse':
        throw refusal(
          text,
          'only a bare BEGIN, COMMIT or ROLLBACK, sent as a statement of its own, can become a savepoint',
        );
      default:
        return top.query(q, values);
    }
  }

  /** `JSON.stringify`: the id of the scope it runs in and whether it joined a transaction; never the client. */
  toJSON(): { scopeId: string; joined: boolean; released: boolean } {
    return {
      scopeId: this.#scope.scopeId,
      joined: this.#owned === undefined && 'commit' in this.#scope,
      released: this.#released,
    };
  }

  /** `util.inspect`: what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `PgClientView ${show(this.toJSON(), options)}`;
  }

  /**
   * Gives the connection back (destroys it when `err` is truthy, like pg.Pool). Joined: ends open savepoints.
   * A second call throws, as pg's does.
   */
  release(err?: Error | boolean): void {
    if (this.#released) {
      throw new Error('Release called on client which has already been released to the pool.');
    }
    this.#released = true;
    for (const [name, fn] of this.#forwarders.splice(0)) this.#raw.off(name, fn);
    for (const sp of this.#savepoints.splice(0).reverse()) {
      void sp[Symbol.asyncDispose]();
    }
    this.#onRelease?.(err);
    if (!this.#owned) return;
    void (err ? this.#owned.discard() : this.#owned.release());
  }

  /** Closes this connection (it is destroyed, not returned); joined: only releases the client view. */
  end(callback?: (err?: Error) => void): Promise<void> | undefined {
    if (!this.#released) this.release(true);
    if (!callback) return Promise.resolve();
    process.nextTick(callback);
    return undefined;
  }
}

function refusal(text: string, why: string): UnsupportedStatementError {
  const head = text.replace(LEADING, '').slice(0, 40).split(/\s+/).slice(0, 3).join(' ').toUpperCase();
  return new UnsupportedStatementError(
    `refused "${head.replace(/[^A-Z ;]/g, '')}…" through pgPool() inside a pg-scope transaction: ${why}; ` +
      'send transaction control as its own statement, or use the transaction API (nothing was sent)',
  );
}

/**
 * The `pg.Pool`-compatible view returned by `pool.pgPool()`: `connect()`, `query()` (promise or callback),
 * `end()`, the events `'connect'`, `'acquire'`, `'release'` and `'remove'`, and the counts pg.Pool reports.
 * See {@link Pool.pgPool} and docs/pg-pool-view.md for what it does differently.
 */
export class PgPoolView extends EventEmitter {
  readonly #pool: Pool;
  /** Work started through the view and not yet settled; `end()` waits for it. */
  readonly #pending = new Set<Promise<unknown>>();
  #ending: Promise<void> | undefined;
  #ended = false;

  constructor(pool: Pool) {
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
