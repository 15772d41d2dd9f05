import { type InspectOptions, inspect } from 'node:util';
import type pg from 'pg';
import type { DestroyReason } from '../logging/events.js';
import type { Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import { Queryable } from '../util/queryable.js';
import { runCallback } from './callback-runner.js';
import { commit } from './commit.js';
import { DeadlineWatch } from './deadline-watch.js';
import { abort, rollback } from './rollback.js';
import { openSavepointSql } from './savepoint-sql.js';
import { sendStatement } from './statement.js';
import type { TransactionState } from './transaction-state.js';
import { checkSavepointOptions, type TxSettings } from './tx-options.js';
import type { TxOutcomes } from './tx-outcomes.js';
import { TxRecord } from './tx-record.js';

/**
 * A transaction (or, nested, a savepoint) on one leased connection. BEGIN is deferred until the first
 * statement and travels with it in one round trip; commit is explicit in the `await using` form, and leaving
 * the block without it rolls back. After the end, every use rejects with `ScopeClosedError` (or, after a
 * deadline or abort, with that error) and sends nothing.
 */
export class Transaction extends Queryable implements AsyncDisposable {
  readonly #tx: TxRecord<Transaction>;

  /** @internal Made by `pool.transaction()`, `conn.transaction()` and `tx.transaction()`. */
  constructor(
    core: PoolCore<TxOutcomes>,
    lease: Lease,
    ownsLease: boolean,
    settings: TxSettings,
    parent?: Transaction,
  ) {
    super();
    this.#tx = new TxRecord(
      this,
      core,
      lease,
      ownsLease,
      settings,
      parent === undefined ? undefined : parent.#tx,
    );
  }

  /**
   * Short id for log lines (`txId`): `t1`, and for its savepoints `t1.1`, `t1.2`. Built when first asked for,
   * so a transaction that logs nothing builds no string.
   */
  get id(): string {
    return this.#tx.id;
  }

  /** Short id of the acquire scope (the connection) this transaction runs on, as in log lines (`scopeId`). */
  get scopeId(): string {
    return this.#tx.lease.id;
  }

  /** `'active'`, `'committed'`, `'rolledBack'` or `'failed'` (the outcome is an error: see the rejection). */
  get state(): TransactionState {
    return this.#tx.sm.state;
  }

  /** @internal The options the transaction was opened with (a savepoint: its top-level transaction's). */
  get settings(): TxSettings {
    return this.#tx.settings;
  }

  /**
   * @internal The `pg.Client` under this transaction, for a cursor or stream sent through the `pgPool()` view;
   * a deferred BEGIN is sent first unless `forQuery` is false (the view only listens to the client's events).
   * Throws `ScopeClosedError` once the transaction has ended.
   */
  rawClient(what: string, forQuery = true): pg.Client {
    const tx = this.#tx;
    tx.guard(what);
    return forQuery ? tx.lease.client(what) : tx.lease.rawClient;
  }

  /**
   * @internal Lets the first flight (BEGIN and the first statement) be re-sent once on a connection from
   * `acquire` when this connection is found dead before any answer to it arrived.
   */
  allowResend(acquire: () => Promise<Lease>): void {
    const tx = this.#tx;
    if (!tx.parent && tx.ownsLease) tx.flight.allowResend(acquire);
  }

  /** @internal Called once when the transaction ends, with its first statement error (tracing). */
  set onEnd(fn: ((firstError: unknown) => void) | undefined) {
    this.#tx.onEnd = fn;
  }

  /** @internal Starts the deadline and abort watch (top level only); `remainingMillis` overrides the option. */
  watch(remainingMillis: number | undefined): Promise<never> {
    const tx = this.#tx;
    const s = tx.settings;
    tx.watch = new DeadlineWatch(tx.lease, remainingMillis, s.timeoutMillis, s.signal, (err, reason) => {
      void abort(tx, err, reason);
    });
    return tx.watch.aborted;
  }

  /** @internal Queryable: in this transaction, after the guard. */
  protected override runQuery<R extends pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    try {
      this.#tx.guardInnermost('query');
    } catch (err) {
      return Promise.reject(err);
    }
    return sendStatement<R>(this.#tx, text, values);
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
    const tx = this.#tx;
    tx.guardInnermost('open a savepoint');
    tx.root().ensureBegun(true);
    const inner = new Transaction(tx.core, tx.lease, false, tx.settings, this);
    const child = inner.#tx;
    // Registered before SAVEPOINT is sent: a second savepoint opened beside it in the same tick is refused.
    tx.child = child;
    await tx.lease.query(openSavepointSql(child.savepoint)).catch((err: unknown) => {
      tx.recordError(err);
      child.sm.fail();
      throw tx.statementError(err);
    });
    if (typeof fn !== 'function') return inner;
    return runCallback(inner, fn);
  }

  /**
   * Commits (a savepoint: releases it). Rejects with pg's error when the server refuses the COMMIT, with
   * `TransactionRolledBackError` when an earlier statement failed, with `CommitUnknownError` when the
   * connection is lost while COMMIT is in flight, with `ScopeClosedError` when the transaction already ended,
   * with `SavepointOpenError` (changing nothing) while a savepoint opened inside it is still open.
   */
  commit(): Promise<void> {
    try {
      this.#tx.guardInnermost('commit');
    } catch (err) {
      return Promise.reject(err);
    }
    return commit(this.#tx);
  }

  /**
   * @internal Runs `fn` as part of this transaction (propagation `'required'`): no BEGIN or COMMIT of its own.
   * If `fn` throws, the transaction is marked rollback-only: its COMMIT rolls back and rejects with
   * `TransactionRolledBackError` (cause = that error), even if the enclosing code caught the error.
   */
  async join<T>(fn: (tx: Transaction) => Promise<T> | T): Promise<T> {
    this.#tx.guardInnermost('join the transaction');
    try {
      return await fn(this);
    } catch (err) {
      this.#tx.root().sm.markRollbackOnly(err);
      throw err;
    }
  }

  /**
   * Rolls back (a savepoint: rolls back to it). Savepoints still open inside it end with it, as in
   * PostgreSQL: their handles are then `'rolledBack'` and reject later use with `ScopeClosedError`.
   * Rejects with `ScopeClosedError` when already ended.
   */
  rollback(): Promise<void> {
    try {
      this.#tx.guard('roll back');
    } catch (err) {
      return Promise.reject(err);
    }
    return rollback(this.#tx, 'rollback requested');
  }

  /** `await using`: rolls back unless committed (logged at debug as `'disposed without commit'`). */
  async [Symbol.asyncDispose](): Promise<void> {
    const tx = this.#tx;
    if (tx.aborting) await tx.aborting;
    if (tx.sm.active && tx.enclosingActive()) await rollback(tx, 'disposed without commit');
    else await tx.finish(undefined);
  }

  /** @internal RunnableTransaction: the pool whose frame the callback runs in. */
  get framePool(): object {
    return this.#tx.core;
  }

  /** @internal RunnableTransaction: the lease the transaction runs on now. */
  get lease(): Lease {
    return this.#tx.lease;
  }

  /** @internal RunnableTransaction: true while it and its connection are open. */
  get open(): boolean {
    return this.#tx.sm.active && this.#tx.lease.state === 'leased';
  }

  /** @internal RunnableTransaction: the deadline's or abort's error. */
  get abortError(): unknown {
    return this.#tx.sm.abortError;
  }

  /** @internal RunnableTransaction: true once a deadline or abort fired. */
  get aborted(): boolean {
    return this.#tx.sm.aborted;
  }

  /** @internal RunnableTransaction: after a deadline or abort, true once its cancel and rollback are done. */
  async abortSettled(): Promise<boolean> {
    if (!this.#tx.sm.aborted) return false;
    await this.#tx.aborting;
    return true;
  }

  /** @internal RunnableTransaction: the savepoint still open directly inside this one. */
  openChild(): Transaction | undefined {
    return this.#tx.openChild()?.handle;
  }

  /** @internal RunnableTransaction: ends without committing; never rejects. */
  rollbackFor(reason: string, cause?: unknown): Promise<void> {
    return rollback(this.#tx, reason, cause);
  }

  /** @internal RunnableTransaction: gives the connection back if the transaction owns it. */
  finish(destroyReason: DestroyReason | undefined): Promise<void> {
    return this.#tx.finish(destroyReason);
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
    return { txId: this.id, scopeId: this.scopeId, state: this.state };
  }

  /** `util.inspect`: what {@link toJSON} shows. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show = inspect): string {
    return `Transaction ${show(this.toJSON(), options)}`;
  }
}
