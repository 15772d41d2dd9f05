import type pg from 'pg';
import { errorCode } from '../util/error-code.js';
import { canCarryAhead } from './carry-ahead.js';
import { queryWithAhead, type StatementAhead, sendAheadAlone } from './pg-queries.js';
import {
  forgetAllStatements,
  forgetStatement,
  isStatementParsed,
  markStatementParsed,
  queryClosingFirst,
} from './pg-statements.js';
import { type StatementPolicy, statementName } from './statement-policy.js';

/** Statements that drop every prepared statement of the session: the cache is emptied after them. */
const DROPS_ALL = /^\s*(?:discard\s+all|deallocate\s+(?:prepare\s+)?all)\s*;?\s*$/i;

/** Errors of a cached statement inside a transaction, which `isRetryable` accepts. */
const staleErrors = new WeakSet<object>();

/** Errors that the pool's own statement (see StatementCache#own) ahead of a query failed with: not the query's. */
const vanishedAhead = new WeakSet<object>();

/**
 * True for the error of a cached named statement that failed inside a transaction because the server lost it
 * (`26000`), its plan no longer fits (`0A000`) or a pooler's server connection already had it (`42P05`): the
 * transaction is aborted, and running it again prepares the statement afresh.
 */
export function isStaleStatementError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && staleErrors.has(err);
}

/**
 * One connection's named statements (`prepare: true`): a query with values is sent under the name of its text
 * (see `statementName`), prepared once on this connection and then only bound and executed. At most
 * `capacity` are kept, least recently used first out; an evicted statement is closed on the server by a Close
 * message sent with the next statement. Statements the user names, statements without values and row-limited
 * portals are sent as they are.
 */
export class StatementCache {
  readonly #policy: StatementPolicy;
  readonly #client: pg.Client;
  /** Text to name, least recently used first (a Map keeps insertion order). */
  readonly #names = new Map<string, string>();
  /** Names to close on the server with the next named statement. */
  #closes: string[] = [];
  /**
   * The pool's own statements (BEGIN, the transaction id) this connection has prepared, by name. They are
   * outside the cache's bound and never evicted: a few texts (one BEGIN per transaction mode), used by every
   * transaction.
   */
  readonly #ownParsed = new Set<string>();

  constructor(policy: StatementPolicy, client: pg.Client) {
    this.#policy = policy;
    this.#client = client;
  }

  /** Statements this connection has prepared now. */
  get size(): number {
    return this.#names.size;
  }

  /**
   * Runs a query as `client.query(config, values)` would, named when it can be. `outside`: no transaction is
   * open (nor could one open before it runs), so a failed cached statement is re-run once, unnamed and
   * transparently; inside one its error is rejected and {@link isStaleStatementError} accepts it.
   */
  query<R extends pg.QueryResultRow>(
    config: string | pg.QueryConfig,
    values: unknown[] | undefined,
    outside: boolean,
    ahead?: readonly StatementAhead[],
  ): Promise<pg.QueryResult<R>> {
    const client = this.#client;
    // The statements ahead (BEGIN, the transaction id) go in the query's Sync when it can carry them, as named
    // statements of their own while the pool names statements; else each on its own just before it.
    const carry = ahead !== undefined && this.#closes.length === 0 && canCarryAhead(config, values);
    if (ahead !== undefined && !carry) sendAheadAlone(client, ahead);
    const carried = carry ? (this.#policy.enabled ? this.#own(ahead) : ahead) : undefined;
    const object = typeof config === 'string' ? undefined : config;
    const text = object === undefined ? (config as string) : object.text;
    const vals = values ?? object?.values;
    if (
      !this.#policy.enabled ||
      vals === undefined ||
      vals.length === 0 ||
      typeof text !== 'string' ||
      (object !== undefined &&
        (object.name !== undefined || (object as { rows?: unknown }).rows !== undefined))
    ) {
      if (!this.#policy.enabled && this.#names.size > 0) this.#dropAll();
      const sent =
        carried !== undefined
          ? sendCarrying<R>(client, carried, config, values)
          : ((values === undefined ? client.query<R>(config) : client.query<R>(config, values)) as Promise<
              pg.QueryResult<R>
            >);
      if (vals === undefined && typeof text === 'string' && DROPS_ALL.test(text)) {
        return sent.then((result) => {
          this.forgetAll();
          return result;
        });
      }
      return sent;
    }
    const names = this.#names;
    const policy = this.#policy;
    let name = names.get(text);
    const hit = name !== undefined;
    if (name !== undefined) {
      policy.hits++;
      names.delete(text);
      names.set(text, name);
    } else {
      policy.misses++;
      name = statementName(text);
      this.#makeRoom();
      names.set(text, name);
      policy.prepared++;
      // The cache is the truth: pg parses what it does not hold, whatever pg remembers.
      forgetStatement(client, name);
    }
    const named: pg.QueryConfig =
      object === undefined ? { text, values: vals, name } : { ...object, values: vals, name };
    const stmtName = name;
    const sent =
      carried !== undefined ? sendCarrying<R>(client, carried, named, undefined) : this.#send<R>(named);
    return sent.catch((err: unknown) => this.#failed<R>(err, text, stmtName, hit, object, vals, outside));
  }

  /** The server dropped every prepared statement (`DISCARD ALL`, `DEALLOCATE ALL`): forget them all. */
  forgetAll(): void {
    this.#dropAll();
    this.#closes = [];
    this.#ownParsed.clear();
    forgetAllStatements(this.#client);
  }

  /** The connection is gone: its statements no longer count. */
  closed(): void {
    this.#dropAll();
    this.#closes = [];
    this.#ownParsed.clear();
  }

  /**
   * The pool's own statements `ahead` of a query, named (`statementName` of the text, as any cached statement):
   * only bound when this connection has them, else closed, parsed and bound in the same flight. One the server
   * lost (`26000`) fails the flight as a cached statement does inside a transaction: retryable, and counted
   * towards turning `prepare` off. Used by every transaction, it is lost only with the session's other
   * statements (an unseen `DEALLOCATE ALL`, or a pooler's other server connection): the cache forgets them all
   * at once, so the retry prepares afresh instead of failing again on each.
   */
  #own(ahead: readonly StatementAhead[]): StatementAhead[] {
    const own = this.#ownParsed;
    const policy = this.#policy;
    return ahead.map((statement): StatementAhead => {
      const name = policy.ownName(statement.text);
      const parse = !own.has(name);
      return {
        text: statement.text,
        name,
        parse,
        carried: () => statement.carried?.(),
        done: (err, value) => {
          if (err === null) {
            own.add(name);
          } else if (!parse && errorCode(err) === '26000' && !vanishedAhead.has(err)) {
            // The first statement of the flight the server did not have: this one (those behind it were skipped).
            vanishedAhead.add(err);
            staleErrors.add(err);
            this.forgetAll();
            policy.noteVanished('26000');
            policy.recoveries++;
          }
          statement.done(err, value);
        },
      };
    });
  }

  #dropAll(): void {
    this.#policy.prepared -= this.#names.size;
    this.#names.clear();
  }

  /** Evicts the least recently used statements until one more fits; each is closed with the next statement. */
  #makeRoom(): void {
    const names = this.#names;
    while (names.size >= this.#policy.capacity) {
      const [oldText, oldName] = names.entries().next().value as [string, string];
      names.delete(oldText);
      this.#closes.push(oldName);
      forgetStatement(this.#client, oldName);
      this.#policy.prepared--;
      this.#policy.evictions++;
    }
  }

  /** Sends `config`, with the Close messages owed, if any, in the same write. */
  #send<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    if (this.#closes.length === 0) return this.#client.query<R>(config) as Promise<pg.QueryResult<R>>;
    const closes = this.#closes;
    this.#closes = [];
    let submitted = false;
    return queryClosingFirst<R>(this.#client, config, closes, () => {
      submitted = true;
    }).catch((err: unknown) => {
      // Never written: the Close messages are still owed.
      if (!submitted) this.#closes.push(...closes);
      throw err;
    });
  }

  /** Drops `name` (for `text`) from the cache; `close`: the server still has it, close it with the next statement. */
  #drop(text: string, name: string, close: boolean): void {
    if (this.#names.get(text) === name) {
      this.#names.delete(text);
      this.#policy.prepared--;
    }
    forgetStatement(this.#client, name);
    if (close) this.#closes.push(name);
  }

  #failed<R extends pg.QueryResultRow>(
    err: unknown,
    text: string,
    name: string,
    hit: boolean,
    object: pg.QueryConfig | undefined,
    values: unknown[],
    outside: boolean,
  ): Promise<pg.QueryResult<R>> {
    // One of the pool's own statements ahead of it failed it (counted, and the cache emptied): the query was
    // skipped. Its own Parse, written first, had succeeded: the server has it.
    if (typeof err === 'object' && err !== null && vanishedAhead.has(err)) {
      if (!hit && !this.#names.has(text)) {
        this.#names.set(text, name);
        this.#policy.prepared++;
        markStatementParsed(this.#client, name, text);
      }
      return Promise.reject(err);
    }
    const code = errorCode(err);
    if (hit && code === '26000') {
      this.#drop(text, name, false);
      this.#policy.noteVanished(code);
    } else if (hit && code === '0A000') {
      this.#drop(text, name, true);
    } else if (!hit && code === '42P05') {
      // A pooler's server connection has this text under this name already: the same statement.
      markStatementParsed(this.#client, name, text);
      this.#policy.noteVanished(code);
    } else {
      // Not prepared after all (its Parse failed or was skipped): the server does not have it.
      if (!hit && !isStatementParsed(this.#client, name)) this.#drop(text, name, false);
      return Promise.reject(err);
    }
    this.#policy.recoveries++;
    if (!outside) {
      if (typeof err === 'object' && err !== null) staleErrors.add(err);
      return Promise.reject(err);
    }
    const unnamed: pg.QueryConfig = object === undefined ? { text, values } : { ...object, values };
    delete unnamed.name;
    return this.#send<R>(unnamed);
  }
}

/** Sends `config` with the statements `ahead` in its Sync, as `client.query(config, values)` answers. */
function sendCarrying<R extends pg.QueryResultRow>(
  client: pg.Client,
  ahead: readonly StatementAhead[],
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    queryWithAhead(client, ahead, config, values, (err, result: pg.QueryResult<R>) => {
      if (err) reject(err);
      else resolve(result);
    });
  });
}
