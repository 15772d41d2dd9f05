import type pg from 'pg';
import { ScopeClosedError } from '../errors.js';
import { queryChannel, type TransactionMessage } from '../logging/channels.js';
import type { DestroyReason } from '../logging/events.js';
import type { ClientInfo } from './client-info.js';
import { corkUntilNextTick, setPipelined } from './pg-client-internals.js';
import { failAhead, type StatementAhead, sendAheadAlone } from './pg-queries.js';
import { type ChannelSource, endQuery, queryMessage, tracedAhead, traceQuery } from './pool-channels.js';
import { afterBegin, rejectFromCaller, sendQuery, sendWithAhead } from './query-callback.js';

/** A lease's life: lent to a scope, given back, or taken away because the connection is unusable. */
export type LeaseState = 'leased' | 'released' | 'broken';

/** What a lease needs from its pool. */
export interface LeaseOwner extends ChannelSource {
  /** Takes the connection back (reset and reuse, or destroy with `destroyReason`). Called once per lease. */
  giveBack(lease: Lease, destroyReason: DestroyReason | undefined): Promise<void>;
  /** Marks the client broken if `err` says the connection is gone. */
  noteQueryError(client: pg.Client, err: unknown): void;
}

/** Work to do before the caller touches the raw client (an object, so a transaction needs no closure for it). */
export interface ClientAccessHook {
  /** Runs before `client()` hands the raw client out. */
  beforeClientAccess(): void;
}

let nextLeaseId = 0;

/**
 * One loan of one server connection to one scope. The pool gives the connection back exactly once, whatever
 * path the scope takes; after that the lease forgets nothing but refuses every use with `ScopeClosedError`.
 */
export class Lease {
  readonly #seq = ++nextLeaseId;
  readonly #owner: LeaseOwner;
  readonly #client: pg.Client;
  /** The pool's record of the connection. */
  readonly info: ClientInfo;
  /** `performance.now()` when the scope got the connection. */
  readonly acquiredAt: number;
  /** Where the connection was acquired (captured only when leak detection is on). */
  readonly acquiredStack: Error | undefined;
  #state: LeaseState = 'leased';
  #ending: Promise<void> | undefined;
  /** True once a leak warning was logged for this lease. */
  leaked = false;
  /** The pool's list of lent leases (`LentLeases`) runs through these: no allocation per lease for it. */
  lentPrev: Lease | undefined = undefined;
  /** See {@link lentPrev}. */
  lentNext: Lease | undefined = undefined;
  /** See {@link lentPrev}: true while the lease is in that list. */
  lentListed = false;
  /** The traced top-level transaction running on this lease: its statements' query messages name it. */
  tracedTransaction: TransactionMessage | undefined = undefined;

  constructor(owner: LeaseOwner, client: pg.Client, info: ClientInfo, acquiredStack: Error | undefined) {
    this.#owner = owner;
    this.#client = client;
    this.info = info;
    this.acquiredAt = performance.now();
    this.acquiredStack = acquiredStack;
  }

  #id: string | undefined;

  /** Short id for log lines and channel messages (`scopeId`), built when first asked for, then kept. */
  get id(): string {
    this.#id ??= `c${this.#seq.toString(36)}`;
    return this.#id;
  }

  get state(): LeaseState {
    return this.#state;
  }

  /** Runs before the caller touches the raw client (a transaction whose BEGIN is deferred sends it now). */
  beforeClientAccess: ClientAccessHook | undefined;
  /** Runs once when the pool takes the connection away (`revoke`), before it is destroyed. */
  onRevoke: (() => void) | undefined;
  #pipelined = false;
  /**
   * Set when the scope knows the server has ended the transaction (a refused COMMIT), although pg's status
   * still reads 'T': pg settles a failed query before the server's ReadyForQuery updates the status.
   */
  #transactionEnded = false;

  /** Tells the pool the server ended the transaction, whatever pg's status says until its next message. */
  transactionEndedByServer(): void {
    this.#transactionEnded = true;
  }

  /** The server's transaction status as far as the scope knows it. */
  transactionStatus(): string | null {
    const status = this.#client.getTransactionStatus();
    return this.#transactionEnded && status === 'T' ? 'I' : status;
  }

  /** The client, while leased. Throws `ScopeClosedError` after the scope ended. */
  client(what = 'use the connection'): pg.Client {
    if (this.#state !== 'leased') throw new ScopeClosedError(`cannot ${what}: the scope has ended`);
    this.beforeClientAccess?.beforeClientAccess();
    sendAheadAlone(this.#client, this.#takeAhead());
    if (this.#pipelined) {
      if (this.info.inflight > 0) {
        throw new Error(
          `cannot ${what} while the transaction's first statements are in flight; await them first`,
        );
      }
      this.#endPipeline();
    }
    return this.#client;
  }

  /**
   * Sends the next queries in pg's pipeline mode (without waiting for each answer) until none of them is in
   * flight: this is how BEGIN travels with a transaction's first statement.
   */
  startPipeline(): void {
    if (this.#pipelined) return;
    this.#pipelined = true;
    setPipelined(this.#client, true);
    // What is sent in this tick (BEGIN with the first statement) leaves in one socket write.
    corkUntilNextTick(this.#client);
  }

  #endPipeline(): void {
    this.#pipelined = false;
    setPipelined(this.#client, false);
  }

  /**
   * A statement sent on the raw client with no promise (a pipelined BEGIN, the transaction-id statement) is in
   * flight until {@link rawAnswered}, once: the lease stays busy and pipelined even when the statement behind it
   * fails at once (parameters pg cannot serialise), so no answer goes to the wrong query.
   */
  rawSent(): void {
    this.info.inflight++;
  }

  /** See {@link rawSent}. */
  rawAnswered(): void {
    if (--this.info.inflight === 0 && this.#pipelined) this.#endPipeline();
  }

  /** Statements to write ahead of the next one sent on this lease: see {@link sendAhead}. */
  #ahead: StatementAhead[] | undefined;

  /**
   * Sends `statement` (no parameters; counted in flight by the caller, see {@link rawSent}) ahead of the one sent
   * next on this lease, in this tick: in its Sync when it can carry it (`canCarryAhead`), else just before it.
   */
  sendAhead(statement: StatementAhead): void {
    const sent = queryChannel.hasSubscribers ? tracedAhead(this.#owner, this, statement) : statement;
    if (this.#ahead === undefined) this.#ahead = [sent];
    else this.#ahead.push(sent);
  }

  /** The statement the ones waiting ahead were to go with is not sent: they fail with `err`. */
  failAhead(err: Error): void {
    failAhead(this.#takeAhead(), err);
  }

  #takeAhead(): StatementAhead[] | undefined {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    return ahead;
  }

  /** The client regardless of state, for the pool's own cleanup. */
  get rawClient(): pg.Client {
    return this.#client;
  }

  /**
   * Runs a query on the leased connection, counting it as in flight so a scope that ends while it runs
   * destroys the connection instead of returning it. pg's errors pass through unchanged.
   */
  query<R extends pg.QueryResultRow>(
    config: string | pg.QueryConfig,
    values?: unknown[],
    onError?: (err: unknown) => Promise<pg.QueryResult<R>>,
  ): Promise<pg.QueryResult<R>> {
    if (this.#state !== 'leased') {
      const error = new ScopeClosedError('cannot query: the scope has ended');
      failAhead(this.#takeAhead(), error);
      const closed = Promise.reject(error);
      return onError === undefined ? closed : closed.catch(onError);
    }
    const hold = this.info.beginHold;
    if (hold !== undefined) return afterBegin(this, hold, config, values, onError);
    const client = this.#client;
    this.#transactionEnded = false;
    // A statement in a Sync of its own behind one that carries an unanswered BEGIN would run outside the
    // transaction if a cancel request failed BEGIN: no cancel until BEGIN answers (see ClientInfo).
    if (this.info.beginCarried) this.info.beginUnanswered = true;
    const statements = this.info.statements;
    // Outside any transaction, and none can open before it runs: a failed cached statement may re-run.
    const outside =
      statements !== undefined &&
      !this.#pipelined &&
      this.info.inflight === 0 &&
      client.getTransactionStatus() === 'I';
    this.info.inflight++;
    if (statements === undefined) {
      // The common case: pg's callback form, so the query makes one promise (this one) instead of pg's two
      // plus one to count it, and its answer reaches the caller without two extra microtask hops.
      const traced = queryChannel.hasSubscribers
        ? queryMessage(this.#owner, this, config, values)
        : undefined;
      return new Promise<pg.QueryResult<R>>((resolve) => {
        let answered = false;
        const done = (err: Error | null, result: pg.QueryResult<R>): void => {
          if (answered) return;
          answered = true;
          if (traced !== undefined) endQuery(traced, err, result?.command, result?.rowCount);
          if (err === null || err === undefined) {
            this.#settled(result);
            resolve(result);
            return;
          }
          this.#noteFailure(err);
          rejectFromCaller(err, resolve, onError);
        };
        sendWithAhead(client, this.#takeAhead(), config, values, done, traced);
      });
    }
    const ahead = this.#takeAhead();
    let promise: Promise<pg.QueryResult<R>>;
    try {
      promise = queryChannel.hasSubscribers
        ? traceQuery(this.#owner, this, config, values, () =>
            sendQuery<R>(client, statements, config, values, outside, ahead),
          )
        : sendQuery<R>(client, statements, config, values, outside, ahead);
    } catch (err) {
      // pg threw at once (a missing statement, a caller's wrapper): settled below like any failure.
      promise = Promise.reject(err);
    }
    // One promise per query on top of pg's: the handlers are made once per lease (on its first such query),
    // and a caller's own error handling (`onError`) runs in the same step instead of in a promise of its own.
    if (this.#onSettled === undefined || this.#onFailed === undefined) {
      this.#onSettled = (result) => {
        this.#settled(result as pg.QueryResult);
        return result;
      };
      this.#onFailed = (err) => {
        this.#noteFailure(err);
        throw err;
      };
    }
    return promise.then(
      this.#onSettled as (result: pg.QueryResult<R>) => pg.QueryResult<R>,
      onError === undefined
        ? this.#onFailed
        : (err: unknown) => {
            this.#noteFailure(err);
            return onError(err);
          },
    );
  }

  /** The command tag (`'UPDATE'`) and row count of the query answered last: has the transaction written? */
  lastCommand: string | undefined;
  lastRowCount = 0;

  /** The handlers of the promise path (traced queries, the statement cache), made when first needed. */
  #onSettled: ((result: unknown) => unknown) | undefined;
  #onFailed: ((err: unknown) => never) | undefined;

  /** A query answered: it is no longer in flight. */
  #settled(result: { command?: string; rowCount?: number | null }): void {
    if (--this.info.inflight === 0 && this.#pipelined) this.#endPipeline();
    this.lastCommand = result.command;
    this.lastRowCount = result.rowCount ?? 0;
  }

  /** A query failed: it is no longer in flight, and the pool learns whether the connection died. */
  #noteFailure(err: unknown): void {
    if (--this.info.inflight === 0 && this.#pipelined) this.#endPipeline();
    this.#owner.noteQueryError(this.#client, err);
  }

  /** Ends the lease (the pool resets and keeps the connection, or destroys it): later calls get the same promise. */
  end(destroyReason?: DestroyReason): Promise<void> {
    if (this.#ending) return this.#ending;
    if (this.#state === 'leased') this.#state = 'released';
    this.#ending = this.#owner.giveBack(this, destroyReason);
    return this.#ending;
  }

  /** Takes the connection away from the scope (pool closing, or the connection is unusable). */
  revoke(reason: DestroyReason): Promise<void> {
    this.#state = 'broken';
    const onRevoke = this.onRevoke;
    this.onRevoke = undefined;
    onRevoke?.();
    return this.end(reason);
  }
}
