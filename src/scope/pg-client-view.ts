import { EventEmitter } from 'node:events';
import { type InspectOptions, inspect } from 'node:util';
import pg from 'pg';
import { ScopeClosedError } from '../errors.js';
import type { Transaction } from '../tx/transaction.js';
import type { AmbientScope } from './ambient-scope.js';
import type { Connection } from './connection.js';
import { classifyControl, refusal } from './sql-control.js';

type Callback = (err: Error | undefined, result?: pg.QueryResult) => void;
type Submittable = { submit: (...args: unknown[]) => void };
type QueryInput = string | pg.QueryConfig | Submittable;

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
export function settle<T>(promise: Promise<T>, valuesOrCb: unknown, cb: unknown): Promise<T> | undefined {
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
 * A client handed out by `PgPoolView#connect`: the pg.PoolClient surface (`query` with promise, callback
 * or Submittable, `release`, `end`, `escapeIdentifier`, `escapeLiteral`, `processID`, `'notification'` and
 * `'notice'` events, properties set on the connection in `onConnect` or a `'connect'` listener). On a connection
 * of its own it passes everything through; joined to an ambient pg-scope transaction it turns the tool's bare
 * BEGIN / COMMIT / ROLLBACK into a savepoint, so the tool's "transaction" commits or rolls back with the
 * enclosing one, and refuses other transaction control. After `release()` every use fails loudly.
 */
export class PgClientView extends EventEmitter {
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
