import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import {
  CommitUnknownError,
  SavepointOpenError,
  ScopeClosedError,
  TransactionRolledBackError,
  TransactionTimeoutError,
} from '../errors.js';
import { LogEvent } from '../logging/events.js';
import { sendCancelRequest } from '../pool/cancel-request.js';
import { isConnectionLoss, isQueryTimeout, wasNeverSent } from '../pool/connect-errors.js';
import type { DestroyReason } from '../pool/destroy-reason.js';
import type { Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import { runInFrame } from '../pool/scope-context.js';
import { errorCode } from '../util/error-code.js';
import { pollUntil, timerDelay } from '../util/timers.js';
import { checkSavepointOptions, type TxSettings } from './tx-options.js';
import type { TxOutcomes } from './tx-outcomes.js';

/** A transaction's life. Only `'active'` accepts queries, savepoints, commit and rollback. */
export type TransactionState = 'active' | 'committed' | 'rolledBack' | 'failed';

/** How long an aborted transaction waits for its cancelled query to stop before destroying the connection. */
const CANCEL_GRACE_MILLIS = 1_000;

let nextTxId = 0;

/**
 * A transaction (or, nested, a savepoint) on one leased connection. BEGIN is deferred until the first
 * statement and travels with it in one round trip; commit is explicit in the `await using` form, and leaving
 * the block without it rolls back. After the end, every use rejects with `ScopeClosedError` (or, after a
 * deadline or abort, with that error) and sends nothing.
 */
export class Transaction implements AsyncDisposable {
  /** A top-level transaction's number (its `txId` is built from it only when a line needs it). */
  readonly #seq: number;
  readonly #core: PoolCore<TxOutcomes>;
  /** Replaced once at most: when the first flight is re-sent on another connection (see #resendFirstFlight). */
  #lease: Lease;
  readonly #ownsLease: boolean;
  readonly #parent: Transaction | undefined;
  readonly #depth: number;
  /** A savepoint's name, unique in its transaction (`pg_scope_sp_<n>`); empty at the top level. */
  readonly #savepoint: string;
  /** Top level: the number of savepoints opened so far, which names the next one. */
  #savepointCount = 0;
  /** The savepoint most recently opened directly inside this one; it blocks this one while it is active. */
  #child: Transaction | undefined;
  /** Why this savepoint ended without a statement of its own (an enclosing savepoint rolled back). */
  #endedBy: string | undefined;
  readonly #settings: TxSettings;
  readonly #startedAt = performance.now();
  #state: TransactionState = 'active';
  #begun: boolean;
  #firstError: unknown;
  /** Top level: the error of BEGIN or of the `settings` statement sent with it, if one failed. */
  #beginError: unknown;
  /** Set when a scope that joined this transaction failed: COMMIT must not happen. */
  #rollbackOnly: unknown;
  #abortError: unknown;
  #aborting: Promise<void> | undefined;
  #rejectAborted: ((err: unknown) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #onAbort: (() => void) | undefined;
  #onRevoke: (() => void) | undefined;
  #ending: Promise<void> | undefined;
  /** Acquires another connection for re-sending the first flight (top level, pool's connection); once. */
  #resend: (() => Promise<Lease>) | undefined;
  /** Statements sent before any answer came (the first flight's). */
  #flight = 0;
  /** Set when the first answer (BEGIN's) arrived: from then on nothing is re-sent. */
  #answered = false;

  /** @internal Made by `pool.transaction()`, `conn.transaction()` and `tx.transaction()`. */
  constructor(
    core: PoolCore<TxOutcomes>,
    lease: Lease,
    ownsLease: boolean,
    settings: TxSettings,
    parent?: Transaction,
  ) {
    this.#core = core;
    this.#lease = lease;
    this.#ownsLease = ownsLease;
    this.#settings = settings;
    this.#parent = parent;
    this.#depth = parent ? parent.#depth + 1 : 0;
    this.#savepoint = parent ? `pg_scope_sp_${++parent.#root().#savepointCount}` : '';
    this.#seq = parent ? 0 : ++nextTxId;
    this.#begun = parent !== undefined;
    if (!parent) lease.beforeClientAccess = () => this.#ensureBegun(false);
  }

  /**
   * Short id for log lines (`txId`): `t1`, and for its savepoints `t1.1`, `t1.2`. Built when first asked for,
   * so a transaction that logs nothing builds no string.
   */
  get id(): string {
    return this.#parent ? `${this.#parent.id}.${this.#depth}` : `t${this.#seq.toString(36)}`;
  }

  /** Short id of the acquire scope (the connection) this transaction runs on, as in log lines (`scopeId`). */
  get scopeId(): string {
    return this.#lease.id;
  }

  /**
   * @internal The `pg.Client` under this transaction, for a cursor or stream sent through the `pgPool()` view;
   * a deferred BEGIN is sent first unless `forQuery` is false (the view only listens to the client's events).
   * Throws `ScopeClosedError` once the transaction has ended.
   */
  rawClient(what: string, forQuery = true): pg.Client {
    this.#guard(what);
    return forQuery ? this.#lease.client(what) : this.#lease.rawClient;
  }

  /** @internal The options the transaction was opened with (a savepoint: its top-level transaction's). */
  get settings(): TxSettings {
    return this.#settings;
  }

  /** `'active'`, `'committed'`, `'rolledBack'` or `'failed'` (the outcome is an error: see the rejection). */
  get state(): TransactionState {
    return this.#state;
  }

  /**
   * @internal Lets the first flight (BEGIN and the first statement) be re-sent once on a connection from
   * `acquire` when this connection is found dead before any answer to it arrived.
   */
  allowResend(acquire: () => Promise<Lease>): void {
    if (!this.#parent && this.#ownsLease) this.#resend = acquire;
  }

  /** @internal Starts the deadline and abort watch (top level only); `remainingMillis` overrides the option. */
  watch(remainingMillis: number | undefined): Promise<never> {
    const aborted = new Promise<never>((_, reject) => {
      this.#rejectAborted = reject;
    });
    aborted.catch(() => {
      // Observed by the callback runner when it races; the `await using` form sees the error on its next call.
    });
    if (remainingMillis !== undefined) {
      this.#timer = setTimeout(() => {
        void this.#abort(
          new TransactionTimeoutError(this.#settings.timeoutMillis ?? remainingMillis),
          'timeout',
        );
      }, timerDelay(remainingMillis));
    }
    // The pool took the connection away (close): the deadline has nothing left to cut short, so its timer
    // must not keep the process alive; a callback still running rejects now instead of at the deadline.
    this.#onRevoke = () => {
      this.#stopWatch();
      this.#rejectAborted?.(new ScopeClosedError('cannot continue: the pool closed and took the connection'));
    };
    this.#lease.onRevoke = this.#onRevoke;
    const signal = this.#settings.signal;
    if (signal) {
      this.#onAbort = () => void this.#abort(signal.reason, 'abort');
      if (signal.aborted) this.#onAbort();
      else signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    return aborted;
  }

  #guard(what: string): void {
    if (this.#abortError !== undefined) throw this.#abortError;
    if (this.#state !== 'active') {
      const why = this.#endedBy === undefined ? '' : ` (${this.#endedBy})`;
      throw new ScopeClosedError(`cannot ${what}: transaction is ${this.#state}${why}`);
    }
    for (let p = this.#parent; p; p = p.#parent) {
      if (p.#state !== 'active') {
        throw new ScopeClosedError(`cannot ${what}: the enclosing transaction is ${p.#state}`);
      }
    }
    if (this.#lease.state !== 'leased')
      throw new ScopeClosedError(`cannot ${what}: the connection was released`);
  }

  /**
   * The guard for work, savepoints and commit: besides {@link #guard}, this must be the innermost open
   * savepoint. PostgreSQL keeps one stack of savepoints per transaction, so work sent here while a savepoint
   * is open inside would belong to that savepoint, and a sibling opened now would be nested in it.
   */
  #guardInnermost(what: string): void {
    this.#guard(what);
    const open = this.#openChild();
    if (open) throw new SavepointOpenError(what, open.id);
  }

  #enclosingActive(): boolean {
    for (let p = this.#parent; p; p = p.#parent) if (p.#state !== 'active') return false;
    return true;
  }

  #openChild(): Transaction | undefined {
    const child = this.#child;
    return child !== undefined && child.#state === 'active' ? child : undefined;
  }

  /** Sends BEGIN (and the transaction-local settings) if not yet sent. `pipeline`: do not wait for the answer. */
  #ensureBegun(pipeline: boolean): void {
    if (this.#begun || this.#state !== 'active') return;
    this.#begun = true;
    const lease = this.#lease;
    lease.beforeClientAccess = undefined;
    const s = this.#settings;
    if (pipeline) lease.startPipeline();
    const record = (err: unknown) => {
      this.#beginError ??= err;
      this.#recordError(err);
    };
    lease.query(s.begin).then(() => {
      this.#answered = true;
    }, record);
    if (s.settingsSql) lease.query(s.settingsSql, s.settingParams as string[]).catch(record);
    const log = this.#core.log;
    if (log.isLevelEnabled('debug')) {
      log.debug(
        {
          event: LogEvent.txBegin,
          txId: this.id,
          scopeId: lease.id,
          isolation: s.isolation,
          readOnly: s.readOnly,
        },
        'transaction begun',
      );
    }
  }

  /**
   * What a failed statement rejects with: pg's own error, except that a statement refused only because BEGIN
   * or the `settings` statement failed before it (`25P02`, the transaction is aborted) rejects with that
   * earlier error, which says what went wrong (an unknown setting name, a bad value).
   */
  #statementError(err: unknown): unknown {
    const beginError = this.#root().#beginError;
    if (beginError !== undefined && errorCode(err) === '25P02') return beginError;
    return err;
  }

  #recordError(err: unknown): void {
    for (let t: Transaction | undefined = this; t; t = t.#parent) {
      if (t.#firstError === undefined) t.#firstError = err;
      else break;
    }
  }

  /**
   * Runs a statement in the transaction: what `pg.Client#query` takes, returning pg's `QueryResult`. A
   * failed statement rejects with pg's own error, and the transaction can then only roll back. When the
   * `settings` statement sent with BEGIN failed, the first statement rejects with that statement's error (not
   * with the `25P02` it caused). Rejects with
   * `SavepointOpenError`, sending nothing, while a savepoint opened inside this one is still open.
   */
  query<R extends unknown[] = unknown[]>(
    config: pg.QueryArrayConfig,
    values?: unknown[],
  ): Promise<pg.QueryArrayResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      this.#guardInnermost('query');
    } catch (err) {
      return Promise.reject(err);
    }
    const first = this.#resend !== undefined && !this.#answered;
    this.#root().#ensureBegun(true);
    if (first) this.#flight++;
    const sent = this.#lease.query<R>(text, values);
    return (first ? sent.catch((err: unknown) => this.#resendFirstFlight<R>(err, text, values)) : sent).catch(
      (err: unknown) => {
        this.#recordError(err);
        throw this.#statementError(err);
      },
    );
  }

  /**
   * The connection died under the first flight before any answer to it arrived: no COMMIT was sent, so the
   * server committed nothing, and the callback has seen nothing. The same flight (BEGIN, settings, the one
   * statement) goes once more on another connection of the pool, and the dead one is destroyed. Anything
   * else (an answer came, more than one statement was in flight, a statement timeout, no connection to be
   * had) rethrows `err`.
   */
  async #resendFirstFlight<R extends pg.QueryResultRow>(
    err: unknown,
    text: string | pg.QueryConfig,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    const acquire = this.#resend;
    this.#resend = undefined;
    const old = this.#lease;
    const dead = isConnectionLoss(err) && !isQueryTimeout(err);
    if (!acquire || !dead || this.#answered || this.#flight !== 1 || old.info.inflight > 0) throw err;
    if (this.#state !== 'active' || this.#abortError !== undefined) throw err;
    let lease: Lease;
    try {
      lease = await acquire();
    } catch {
      // No other connection: the caller sees the connection loss, as without the re-send.
      throw err;
    }
    if (this.#state !== 'active' || this.#abortError !== undefined) {
      await lease.end();
      throw err;
    }
    if (old.onRevoke === this.#onRevoke) old.onRevoke = undefined;
    void old.end('broken');
    this.#lease = lease;
    if (this.#onRevoke) lease.onRevoke = this.#onRevoke;
    this.#begun = false;
    this.#firstError = undefined;
    this.#beginError = undefined;
    const log = this.#core.log;
    if (log.isLevelEnabled('info')) {
      log.info(
        { event: LogEvent.txResend, txId: this.id, scopeId: lease.id, previousScopeId: old.id, err },
        'connection lost before any answer to the first statement; re-sent on another connection',
      );
    }
    this.#ensureBegun(true);
    return lease.query<R>(text, values);
  }

  #root(): Transaction {
    let t: Transaction = this;
    while (t.#parent) t = t.#parent;
    return t;
  }

  /**
   * A nested transaction: a savepoint. Callback form: released when `fn` resolves, rolled back to when it
   * throws (rejecting with the same error), leaving this transaction usable. Without a callback: resolves
   * with the savepoint's `Transaction` for `await using` (commit releases it; leaving without commit rolls
   * back to it). Each savepoint has a name of its own in the transaction. One savepoint at a time is open
   * directly inside a transaction: while it is, this transaction's `query`, `transaction` and `commit`
   * reject with `SavepointOpenError` and send nothing (its `rollback` ends both).
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T>;
  transaction(): Promise<Transaction>;
  async transaction<T>(
    fn?: (tx: Transaction) => Promise<T> | T,
    options?: unknown,
  ): Promise<T | Transaction> {
    checkSavepointOptions(typeof fn === 'function' ? options : fn);
    this.#guardInnermost('open a savepoint');
    this.#root().#ensureBegun(true);
    const inner = new Transaction(this.#core, this.#lease, false, this.#settings, this);
    // Registered before SAVEPOINT is sent: a second savepoint opened beside it in the same tick is refused.
    this.#child = inner;
    await this.#lease.query(`SAVEPOINT ${inner.#savepoint}`).catch((err: unknown) => {
      this.#recordError(err);
      inner.#state = 'failed';
      throw this.#statementError(err);
    });
    if (typeof fn !== 'function') return inner;
    return inner.run(fn);
  }

  /**
   * Commits (a savepoint: releases it). Rejects with pg's error when the server refuses the COMMIT, with
   * `TransactionRolledBackError` when an earlier statement failed, with `CommitUnknownError` when the
   * connection is lost while COMMIT is in flight, with `ScopeClosedError` when the transaction already ended,
   * with `SavepointOpenError` (changing nothing) while a savepoint opened inside it is still open.
   */
  async commit(): Promise<void> {
    this.#guardInnermost('commit');
    this.#stopWatch();
    if (this.#parent) return this.#releaseSavepoint();
    const core = this.#core;
    if (!this.#begun) {
      // Nothing was sent: there is nothing to commit.
      this.#state = 'committed';
      core.outcomes.committed();
      this.#logCommit();
      return this.#finish(undefined);
    }
    const lease = this.#lease;
    const client = lease.rawClient;
    if (this.#rollbackOnly !== undefined) {
      await this.#rollback('joined scope failed', this.#rollbackOnly);
      throw new TransactionRolledBackError(this.#rollbackOnly, true);
    }
    if (client.getTransactionStatus() === 'E' && lease.info.inflight === 0) {
      await this.#rollback('error');
      throw new TransactionRolledBackError(this.#firstError);
    }
    if (lease.info.brokenBy !== undefined) {
      // The connection died before COMMIT was sent: the server rolled the transaction back.
      this.#state = 'failed';
      core.outcomes.rolledBack();
      this.#logRollback('connection lost', lease.info.brokenBy);
      await this.#finish('broken');
      throw lease.info.brokenBy;
    }
    let result: pg.QueryResult;
    try {
      result = await lease.query('COMMIT');
    } catch (err) {
      this.#state = 'failed';
      if (isConnectionLoss(err) && !wasNeverSent(err)) {
        await this.#finish('broken');
        throw new CommitUnknownError(err);
      }
      core.outcomes.rolledBack();
      this.#logRollback('commit failed', err);
      // The server answered the COMMIT with an error: the transaction is over (rolled back).
      if (!isConnectionLoss(err)) lease.transactionEndedByServer();
      await this.#finish(isConnectionLoss(err) ? 'broken' : undefined);
      throw err;
    }
    if (result.command === 'ROLLBACK') {
      this.#state = 'rolledBack';
      core.outcomes.rolledBack();
      this.#logRollback('error', this.#firstError);
      await this.#finish(undefined);
      throw new TransactionRolledBackError(this.#firstError);
    }
    this.#state = 'committed';
    core.outcomes.committed();
    this.#logCommit();
    await this.#finish(undefined);
  }

  async #releaseSavepoint(): Promise<void> {
    const lease = this.#lease;
    if (lease.rawClient.getTransactionStatus() === 'E' && lease.info.inflight === 0) {
      await this.#rollback('error');
      throw new TransactionRolledBackError(this.#firstError);
    }
    try {
      await lease.query(`RELEASE SAVEPOINT ${this.#savepoint}`);
    } catch (err) {
      if (errorCode(err) === '25P02' && this.#firstError !== undefined) {
        // pg rejects a failed statement on the server's ErrorResponse, before the ReadyForQuery that reports
        // the aborted state, so the status check above can miss it: roll back to the savepoint instead.
        await this.#rollback('error', this.#firstError);
        throw new TransactionRolledBackError(this.#firstError);
      }
      this.#state = 'failed';
      if (this.#parent) this.#parent.#recordError(err);
      throw err;
    }
    this.#state = 'committed';
  }

  /**
   * @internal Runs `fn` as part of this transaction (propagation `'required'`): no BEGIN or COMMIT of its own.
   * If `fn` throws, the transaction is marked rollback-only: its COMMIT rolls back and rejects with
   * `TransactionRolledBackError` (cause = that error), even if the enclosing code caught the error.
   */
  async join<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T> {
    this.#guardInnermost('join the transaction');
    try {
      return await fn(this);
    } catch (err) {
      this.#root().#rollbackOnly ??= err;
      throw err;
    }
  }

  /**
   * Rolls back (a savepoint: rolls back to it). Savepoints still open inside it end with it, as in
   * PostgreSQL: their handles are then `'rolledBack'` and reject later use with `ScopeClosedError`.
   * Rejects with `ScopeClosedError` when already ended.
   */
  async rollback(): Promise<void> {
    this.#guard('roll back');
    await this.#rollback('rollback requested');
  }

  /** `await using`: rolls back unless committed (logged at debug as `'disposed without commit'`). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#aborting) await this.#aborting;
    if (this.#state === 'active' && this.#enclosingActive()) {
      await this.#rollback('disposed without commit');
    } else {
      await this.#finish(undefined);
    }
  }

  /**
   * Ends the transaction without committing. Never rejects: a failed ROLLBACK is logged (and attached to
   * `cause` as `suppressed`) and the connection destroyed.
   */
  async #rollback(reason: string, cause?: unknown): Promise<void> {
    this.#stopWatch();
    if (this.#state !== 'active') return this.#finish(undefined);
    this.#state = 'rolledBack';
    // ROLLBACK (TO SAVEPOINT) ends every savepoint opened inside this one too: their handles are closed.
    for (let open = this.#openChild(); open; open = open.#openChild()) {
      open.#state = 'rolledBack';
      open.#endedBy = `rolled back with ${this.#parent ? 'the enclosing savepoint' : 'the transaction'}`;
      open.#logRollback('enclosing transaction rolled back', cause);
    }
    const lease = this.#lease;
    if (!this.#parent) this.#core.outcomes.rolledBack();
    this.#logRollback(reason, cause);
    if (!this.#begun || lease.state !== 'leased') return this.#finish(undefined);
    if (lease.info.inflight > 0 || lease.info.brokenBy !== undefined) {
      // A statement is still running (the callback did not await it) or the connection is gone: never reuse.
      const why = lease.info.brokenBy !== undefined ? 'broken' : 'query still running';
      if (!this.#ownsLease) await lease.revoke(why);
      return this.#finish(why);
    }
    try {
      if (this.#parent) {
        const name = this.#savepoint;
        await lease.query(`ROLLBACK TO SAVEPOINT ${name}`);
        await lease.query(`RELEASE SAVEPOINT ${name}`);
      } else {
        await lease.query('ROLLBACK');
      }
    } catch (err) {
      this.#state = 'failed';
      const log = this.#core.log;
      if (log.isLevelEnabled('error')) {
        log.error(
          { event: LogEvent.txRollbackFailed, txId: this.id, scopeId: lease.id, err },
          'ROLLBACK failed; destroying the connection',
        );
      }
      attachSuppressed(cause, err);
      if (!this.#ownsLease) await lease.revoke('reset failed');
      return this.#finish('reset failed');
    }
    return this.#finish(undefined);
  }

  #logRollback(reason: string, err: unknown): void {
    const log = this.#core.log;
    if (log.isLevelEnabled('debug')) {
      log.debug(
        { event: LogEvent.txRollback, txId: this.id, scopeId: this.#lease.id, reason, err },
        'transaction rolled back',
      );
    }
  }

  #logCommit(): void {
    const log = this.#core.log;
    if (log.isLevelEnabled('debug')) {
      log.debug(
        {
          event: LogEvent.txCommit,
          txId: this.id,
          scopeId: this.#lease.id,
          durationMillis: Math.round(performance.now() - this.#startedAt),
        },
        'transaction committed',
      );
    }
  }

  /** Gives the connection back if this transaction owns it. */
  #finish(destroyReason: DestroyReason | undefined): Promise<void> {
    this.#stopWatch();
    if (!this.#parent) this.#lease.beforeClientAccess = undefined;
    if (!this.#ownsLease) return Promise.resolve();
    this.#ending ??= this.#lease.end(destroyReason);
    return this.#ending;
  }

  #stopWatch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#onAbort) this.#settings.signal?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = undefined;
    if (this.#onRevoke && this.#lease.onRevoke === this.#onRevoke) this.#lease.onRevoke = undefined;
    this.#onRevoke = undefined;
  }

  /** Deadline or abort: cancel the running statement, roll back (or destroy), and fail every later use. */
  #abort(err: unknown, reason: 'timeout' | 'abort'): Promise<void> {
    if (this.#state !== 'active' || this.#aborting) return this.#aborting ?? Promise.resolve();
    this.#abortError = err;
    this.#rejectAborted?.(err);
    this.#aborting = (async () => {
      const lease = this.#lease;
      if (lease.info.inflight > 0 && lease.state === 'leased') {
        // The grace runs from now, alongside the cancel request: a cancel sent into a dead network (it takes its
        // own socket, which a partition swallows too) would otherwise add its whole timeout to every deadline.
        const until = performance.now() + CANCEL_GRACE_MILLIS;
        void sendCancelRequest(lease.rawClient);
        await pollUntil(() => lease.info.inflight === 0, until, 5);
      }
      await this.#rollback(reason, err);
    })();
    return this.#aborting;
  }

  /** `JSON.stringify`: the ids and the state; never the connection or the options. */
  toJSON(): {
    /** The transaction's id in log lines. */
    txId: string;
    /** The scope's id in log lines. */
    scopeId: string;
    /** The transaction's state. */
    state: TransactionState;
  } {
    return { txId: this.id, scopeId: this.scopeId, state: this.#state };
  }

  /** `util.inspect`: what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `Transaction ${show(this.toJSON(), options)}`;
  }

  /**
   * @internal The callback form: run `fn`, then commit if it resolved or roll back if it threw, and reject
   * with the same error object. A deadline or abort rejects with its own error.
   */
  async run<T>(fn: (tx: Transaction) => Promise<T> | T, aborted?: Promise<never>): Promise<T> {
    let value: T;
    try {
      const pending = runInFrame(
        {
          pool: this.#core,
          handle: this,
          isOpen: () => this.#state === 'active' && this.#lease.state === 'leased',
          acquiredAt: this.#lease.acquiredStack,
        },
        () => fn(this),
      );
      if (aborted) {
        // Promise.resolve adopts any thenable (Bluebird, a query builder), not only a native promise: a
        // thenable that never settles is cut off by the deadline like a promise is.
        const settled = Promise.resolve(pending);
        settled.catch(() => {
          // The deadline won the race; the callback's late error is superseded by the abort's.
        });
        value = await Promise.race([settled, aborted]);
      } else {
        value = await pending;
      }
    } catch (err) {
      if (this.#abortError !== undefined) {
        await this.#aborting;
        throw this.#abortError;
      }
      await this.#rollback('error', err);
      throw err;
    }
    if (this.#abortError !== undefined) {
      await this.#aborting;
      throw this.#abortError;
    }
    if (this.#state === 'active') {
      const open = this.#openChild();
      if (open) {
        // The callback resolved with a savepoint of its own still open (an `await using` handle it kept):
        // committing would keep work nobody committed. Roll back instead, and say why.
        const err = new SavepointOpenError('commit', open.id);
        await this.#rollback('error', err);
        throw err;
      }
      await this.commit();
    } else await this.#finish(undefined);
    return value;
  }
}

/** Attaches a failed ROLLBACK's error to the original error as `suppressed`, where that object allows it. */
function attachSuppressed(cause: unknown, err: unknown): void {
  if (cause === null || typeof cause !== 'object') return;
  try {
    if (Object.isExtensible(cause) && !('suppressed' in cause))
      (cause as { suppressed?: unknown }).suppressed = err;
  } catch {
    // A Proxy whose traps throw: the rollback failure is logged anyway; there is nowhere to attach it.
  }
}
