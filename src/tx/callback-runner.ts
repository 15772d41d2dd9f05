import { SavepointOpenError } from '../errors.js';
import type { DestroyReason } from '../logging/events.js';
import type { Lease } from '../pool/lease.js';
import { runInFrame, type ScopeFrame } from '../pool/scope-context.js';

/** What the callback runner needs of a transaction (the `Transaction` class, seen without importing it). */
export interface RunnableTransaction {
  /** The pool the transaction's frame belongs to. */
  readonly framePool: object;
  /** The connection it runs on now. */
  readonly lease: Lease;
  /** True while it and its connection are open. */
  readonly open: boolean;
  /** True while `'active'`. */
  readonly state: string;
  /** The deadline's or abort's error. */
  readonly abortError: unknown;
  /** True once a deadline or abort fired (a synchronous check, so the common path awaits nothing for it). */
  readonly aborted: boolean;
  /** Resolves true (once cancel and rollback are done) after a deadline or abort, else false. */
  abortSettled(): Promise<boolean>;
  /** The savepoint still open directly inside, if any. */
  openChild(): { readonly id: string } | undefined;
  /** Ends without committing; never rejects. */
  rollbackFor(reason: string, cause?: unknown): Promise<void>;
  /** Commits. */
  commit(): Promise<void>;
  /** Gives the connection back if the transaction owns it. */
  finish(destroyReason: DestroyReason | undefined): Promise<void>;
}

/** A transaction's frame: one object per transaction, with no closure for `isOpen`. */
class TxFrame implements Omit<ScopeFrame, 'parent'> {
  readonly pool: object;
  readonly handle: RunnableTransaction;
  readonly acquiredAt: Error | undefined;
  /** Set by `runInFrame`; declared so every frame has the same shape. */
  parent: ScopeFrame | undefined = undefined;

  constructor(tx: RunnableTransaction) {
    this.pool = tx.framePool;
    this.handle = tx;
    this.acquiredAt = tx.lease.acquiredStack;
  }

  isOpen(): boolean {
    return this.handle.open;
  }
}

/**
 * The callback form: runs `fn` inside the transaction's frame (so code it calls finds the transaction), then
 * commits if it resolved or rolls back if it threw, rejecting with the same error object. A deadline or abort
 * (`aborted` rejects) rejects with its own error.
 */
export async function runCallback<H extends RunnableTransaction, T>(
  tx: H,
  fn: (tx: H) => Promise<T> | T,
  aborted?: Promise<never>,
): Promise<T> {
  let value: T;
  try {
    const pending = runInFrame(new TxFrame(tx), fn, tx);
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
    if (tx.aborted && (await tx.abortSettled())) throw tx.abortError;
    await tx.rollbackFor('error', err);
    throw err;
  }
  if (tx.aborted && (await tx.abortSettled())) throw tx.abortError;
  if (tx.state === 'active') {
    const open = tx.openChild();
    if (open) {
      // The callback resolved with a savepoint of its own still open (an `await using` handle it kept):
      // committing would keep work nobody committed. Roll back instead, and say why.
      const err = new SavepointOpenError('commit', open.id);
      await tx.rollbackFor('error', err);
      throw err;
    }
    await tx.commit();
  } else await tx.finish(undefined);
  return value;
}
