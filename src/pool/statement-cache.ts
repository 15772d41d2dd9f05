import type pg from 'pg';
import { errorCode } from '../util/error-code.js';
import { recapture } from './caller-stack.js';
import { canCarryAhead } from './carry-ahead.js';
import { OwnStatements } from './own-statements.js';
import { type OwedCloses, queryWithAhead, type StatementAhead, sendAheadAlone } from './pg-queries.js';
import {
  forgetAllStatements,
  forgetStatement,
  isStatementParsed,
  markStatementParsed,
  queryClosingFirst,
  sendPlain,
} from './pg-statements.js';
import { isVanishedAhead, markStale } from './stale-errors.js';
import { type StatementPolicy, statementName } from './statement-policy.js';

/** Statements that drop every prepared statement of the session: the cache is emptied after them. */
const DROPS_ALL = /^\s*(?:discard\s+all|deallocate\s+(?:prepare\s+)?all)\s*;?\s*$/i;

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
  /** BEGIN and the transaction-id statement, named on this connection. */
  readonly #own: OwnStatements;
  /** Goes up when the session lost its statements: a statement sent before cannot count as another loss. */
  #generation = 0;

  constructor(policy: StatementPolicy, client: pg.Client) {
    this.#policy = policy;
    this.#client = client;
    this.#own = new OwnStatements(policy, () => this.#lostAll());
  }

  /** Statements this connection has prepared now. */
  get size(): number {
    return this.#names.size;
  }

  /**
   * Runs a query as `client.query(config, values)` would, named when it can be. `outside`: no transaction is
   * open (nor could one open before it runs), so a failed cached statement is re-run once, unnamed and
   * transparently; inside one its error is rejected and `isStaleStatementError` accepts it.
   *
   * The statements `ahead` (BEGIN, the transaction id: see `Lease.sendAhead`) go in the query's Sync when it
   * can carry them (behind the Close messages owed), as named statements of the connection while the pool
   * names statements (see {@link OwnStatements}); else each on its own just before it.
   */
  query<R extends pg.QueryResultRow>(
    config: string | pg.QueryConfig,
    values: unknown[] | undefined,
    outside: boolean,
    ahead?: readonly StatementAhead[],
  ): Promise<pg.QueryResult<R>> {
    const client = this.#client;
    const canCarry = ahead !== undefined && canCarryAhead(config, values);
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
      let sent: Promise<pg.QueryResult<R>>;
      const own = canCarry ? this.#carried(ahead) : undefined;
      if (own !== undefined) {
        // An unnamed statement: pg records no ParseComplete for it, whichever statement it answers.
        sent = this.#sendCarrying<R>(own.statements, config, values, undefined);
      } else {
        sendAheadAlone(client, ahead);
        sent = (values === undefined ? client.query<R>(config) : client.query<R>(config, values)) as Promise<
          pg.QueryResult<R>
        >;
      }
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
    // Made here from a string (see sendPlain), or the caller's own config object with the name added.
    const plain = object === undefined;
    const named: pg.QueryConfig = plain ? { text, values: vals, name } : { ...object, values: vals, name };
    const stmtName = name;
    const generation = this.#generation;
    const own = canCarry ? this.#carried(ahead) : undefined;
    let sent: Promise<pg.QueryResult<R>>;
    if (own !== undefined) {
      sent = this.#sendCarrying<R>(own.statements, plain ? text : named, plain ? vals : undefined, name);
    } else {
      sendAheadAlone(client, ahead);
      sent = this.#send<R>(named, plain);
    }
    // pg records the first ParseComplete of the flight as this statement's: when one of the statements ahead
    // was parsed too, a failure of this one leaves unknown whether the server has it.
    const unsure = !hit && own?.parsing === true;
    return sent.catch((err: unknown) =>
      this.#failed<R>(err, text, stmtName, hit, object, vals, outside, generation, unsure),
    );
  }

  /** The Close messages owed, to write in this flight (owed again if they were not written). */
  #takeCloses(): OwedCloses | undefined {
    if (this.#closes.length === 0) return undefined;
    const closes = { names: this.#closes, written: false };
    this.#closes = [];
    return closes;
  }

  /** Sends `config` with the statements `ahead` in its Sync, behind the Close messages owed. */
  #sendCarrying<R extends pg.QueryResultRow>(
    ahead: readonly StatementAhead[],
    config: string | pg.QueryConfig,
    values: unknown[] | undefined,
    name: string | undefined,
  ): Promise<pg.QueryResult<R>> {
    const closes = this.#takeCloses();
    return new Promise<pg.QueryResult<R>>((resolve, reject) => {
      const done = (err: Error | null, result: pg.QueryResult<R>): void => {
        if (!err) {
          resolve(result);
          return;
        }
        this.#oweAgain(closes);
        reject(err);
      };
      queryWithAhead(this.#client, ahead, config, values, done, closes, name);
    }).catch(recapture);
  }

  /** `ahead` as the flight's statements ahead: named while the pool names statements, else as they are. */
  #carried(
    ahead: readonly StatementAhead[] | undefined,
  ): { statements: readonly StatementAhead[]; parsing: boolean } | undefined {
    if (ahead === undefined) return undefined;
    if (!this.#policy.enabled) return { statements: ahead, parsing: false };
    return this.#own.name(ahead);
  }

  /**
   * The server lost one of the pool's own statements, so the session lost the others too: every statement
   * the cache knows is forgotten and closed with the next named statement (a Close of a statement the server
   * does not have is no error; one still in flight behind the failure may have been prepared after all).
   */
  #lostAll(): void {
    this.#generation++;
    for (const name of this.#names.values()) this.#closes.push(name);
    this.#forgetStatements();
  }

  /** The server dropped every prepared statement (`DISCARD ALL`, `DEALLOCATE ALL`): forget them all. */
  forgetAll(): void {
    this.#closes = [];
    this.#forgetStatements();
  }

  /** The connection is gone: its statements no longer count. */
  closed(): void {
    this.#closes = [];
    this.#forgetStatements();
  }

  /** Forgets every statement of the connection: the cache's, the pool's own, and pg's record of them. */
  #forgetStatements(): void {
    this.#dropAll();
    this.#own.clear();
    forgetAllStatements(this.#client);
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
  #send<R extends pg.QueryResultRow>(config: pg.QueryConfig, plain: boolean): Promise<pg.QueryResult<R>> {
    if (this.#closes.length === 0) {
      if (plain) return sendPlain<R>(this.#client, config);
      return this.#client.query<R>(config) as Promise<pg.QueryResult<R>>;
    }
    const closes = this.#takeCloses() as OwedCloses;
    return queryClosingFirst<R>(this.#client, config, closes.names, () => {
      closes.written = true;
    }).catch((err: unknown) => {
      this.#oweAgain(closes);
      throw err;
    });
  }

  /** Close messages that were never written (the query failed before pg wrote it) are still owed. */
  #oweAgain(closes: OwedCloses | undefined): void {
    if (closes !== undefined && !closes.written) this.#closes.push(...closes.names);
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
    generation: number,
    unsure: boolean,
  ): Promise<pg.QueryResult<R>> {
    // One of the pool's own statements ahead of it failed the flight (counted, and the cache emptied): this
    // one was skipped.
    if (isVanishedAhead(err)) return Promise.reject(err);
    const code = errorCode(err);
    if (hit && code === '26000') {
      this.#drop(text, name, false);
      // Sent before the session's loss was seen: that loss was counted once.
      if (generation === this.#generation) this.#policy.noteVanished(code);
    } else if (hit && code === '0A000') {
      this.#drop(text, name, true);
    } else if (!hit && code === '42P05') {
      // A pooler's server connection has this text under this name already: the same statement.
      markStatementParsed(this.#client, name, text);
      this.#policy.noteVanished(code);
    } else {
      // Whether the server has it is unknown: dropped, and closed with the next named statement.
      if (unsure) this.#drop(text, name, true);
      // Not prepared after all (its Parse failed or was skipped): the server does not have it.
      else if (!hit && !isStatementParsed(this.#client, name)) this.#drop(text, name, false);
      return Promise.reject(err);
    }
    this.#policy.recoveries++;
    if (!outside) {
      markStale(err);
      return Promise.reject(err);
    }
    const unnamed: pg.QueryConfig = object === undefined ? { text, values } : { ...object, values };
    delete unnamed.name;
    return this.#send<R>(unnamed, object === undefined);
  }
}
