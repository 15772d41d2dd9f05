import { ScopeClosedError } from '../errors.js';
import type { Transaction } from '../tx/transaction.js';

/**
 * A transaction opened lazily for one unit of work (an HTTP request): nothing is acquired until the first
 * query needs it, so work that never touches the database never holds a connection. The owner decides the
 * outcome at the end with {@link finish}.
 */
export class RequestScope {
  readonly #open: () => Promise<Transaction>;
  readonly #onOpen: ((tx: Transaction) => void) | undefined;
  #opening: Promise<Transaction> | undefined;
  #tx: Transaction | undefined;
  #finished = false;

  /** Whether the request's transaction is read-only (with replicas it runs on one). */
  readonly readOnly: boolean;

  /** `open`: opens the transaction (an `await using`-form transaction on a connection of its own). */
  constructor(open: () => Promise<Transaction>, onOpen?: (tx: Transaction) => void, readOnly = false) {
    this.#open = open;
    this.#onOpen = onOpen;
    this.readOnly = readOnly;
  }

  /** The transaction, opening it on first use. Rejects with `ScopeClosedError` after {@link finish}. */
  transaction(): Promise<Transaction> {
    if (this.#finished)
      return Promise.reject(new ScopeClosedError('cannot query: the request scope has ended'));
    this.#opening ??= this.#open().then((tx) => {
      this.#tx = tx;
      this.#onOpen?.(tx);
      return tx;
    });
    return this.#opening;
  }

  /** The transaction if it was opened and is still active. */
  get current(): Transaction | undefined {
    return this.#tx?.state === 'active' ? this.#tx : undefined;
  }

  /** True once a connection is held (the transaction is open and active). */
  isOpen(): boolean {
    return this.current !== undefined;
  }

  /** True once {@link finish} was called. */
  get finished(): boolean {
    return this.#finished;
  }

  /** True when a transaction was opened at all. */
  get opened(): boolean {
    return this.#opening !== undefined;
  }

  /**
   * Ends the scope: commits (`commit: true`) or rolls back the transaction if one was opened, and gives the
   * connection back. Rejects with the commit's error (pg's, `TransactionRolledBackError`,
   * `CommitUnknownError`); a rollback never rejects. Idempotent in effect: later calls do nothing.
   */
  async finish(commit: boolean): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    if (!this.#opening) return;
    let tx: Transaction;
    try {
      tx = await this.#opening;
    } catch {
      // Opening failed: the request already saw that error; there is nothing to end.
      return;
    }
    try {
      if (commit && tx.state === 'active') await tx.commit();
    } finally {
      await tx[Symbol.asyncDispose]();
    }
  }
}
