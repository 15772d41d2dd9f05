import { ScopeClosedError } from '../errors.js';

/** A transaction's life. Only `'active'` accepts queries, savepoints, commit and rollback. */
export type TransactionState = 'active' | 'committed' | 'rolledBack' | 'failed';

/**
 * The moves a transaction's state may make. An ended transaction keeps its outcome, except that a rollback
 * whose ROLLBACK statement failed ends as `'failed'` (the connection is then destroyed).
 */
const MOVES: Readonly<Record<TransactionState, readonly TransactionState[]>> = {
  active: ['committed', 'rolledBack', 'failed'],
  rolledBack: ['failed'],
  committed: [],
  failed: [],
};

/**
 * The state machine of one transaction or savepoint: the one `state` field, changed only by the named
 * transitions below, and the one guard every use goes through. Two facts that are not states ride along:
 * the error of a deadline or abort (the transaction is still `'active'` until its rollback ends it, but
 * refuses every use with that error), and the failure of a joined scope (the transaction may go on, but its
 * COMMIT must roll back).
 */
export class TxStateMachine {
  #state: TransactionState = 'active';
  /** Why it ended without a statement of its own (an enclosing savepoint or transaction rolled back). */
  #endedBy: string | undefined;
  #abortError: unknown;
  #aborted = false;
  #rollbackOnly: unknown;
  #isRollbackOnly = false;

  /** The state. */
  get state(): TransactionState {
    return this.#state;
  }

  /** True while `'active'`. */
  get active(): boolean {
    return this.#state === 'active';
  }

  /** COMMIT (or RELEASE SAVEPOINT) succeeded, or there was nothing to commit. */
  commit(): void {
    this.#move('committed');
  }

  /** Rolled back: by request, on error, by the server's answer, or (`endedBy`) with an enclosing scope. */
  rollBack(endedBy?: string): void {
    if (this.#move('rolledBack') && endedBy !== undefined) this.#endedBy = endedBy;
  }

  /** Ended in failure: COMMIT refused or lost, SAVEPOINT refused, or ROLLBACK failed after a rollback. */
  fail(): void {
    this.#move('failed');
  }

  /** A deadline or abort fired: every use now throws `err` until the rollback ends the transaction. */
  abort(err: unknown): void {
    if (this.#aborted || this.#state !== 'active') return;
    this.#aborted = true;
    this.#abortError = err;
  }

  /** True once {@link abort} was called while active. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** The deadline's or abort's error (see {@link aborted}). */
  get abortError(): unknown {
    return this.#abortError;
  }

  /** A joined scope failed with `err`: COMMIT must roll back. The first failure is kept. */
  markRollbackOnly(err: unknown): void {
    if (this.#isRollbackOnly) return;
    this.#isRollbackOnly = true;
    this.#rollbackOnly = err;
  }

  /** True once {@link markRollbackOnly} was called. */
  get rollbackOnly(): boolean {
    return this.#isRollbackOnly;
  }

  /** The joined scope's failure (see {@link rollbackOnly}). */
  get rollbackOnlyCause(): unknown {
    return this.#rollbackOnly;
  }

  /**
   * The guard: throws the abort's error after a deadline or abort, else `ScopeClosedError` naming the state
   * (`cannot commit: transaction is rolledBack`) unless `'active'`.
   */
  guard(what: string): void {
    if (this.#aborted) throw this.#abortError;
    if (this.#state !== 'active') {
      const why = this.#endedBy === undefined ? '' : ` (${this.#endedBy})`;
      throw new ScopeClosedError(`cannot ${what}: transaction is ${this.#state}${why}`);
    }
  }

  /** Moves to `next` if that move is allowed from the current state; whether it moved. */
  #move(next: TransactionState): boolean {
    if (!MOVES[this.#state].includes(next)) return false;
    this.#state = next;
    return true;
  }
}
