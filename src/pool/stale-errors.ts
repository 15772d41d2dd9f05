/**
 * Which errors of named statements (`prepare: true`) the pool has classified, kept by identity: pg hands the
 * same error object to every statement a failed flight skipped.
 */

/** Errors of a cached statement inside a transaction, which `isRetryable` accepts. */
const stale = new WeakSet<object>();

/** Errors one of the pool's own statements ahead of a query failed with: not the query's own. */
const vanishedAhead = new WeakSet<object>();

/**
 * True for the error of a cached named statement that failed inside a transaction because the server lost it
 * (`26000`), its plan no longer fits (`0A000`) or a pooler's server connection already had it (`42P05`): the
 * transaction is aborted, and running it again prepares the statement afresh.
 */
export function isStaleStatementError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && stale.has(err);
}

/** Marks `err` as {@link isStaleStatementError}. */
export function markStale(err: unknown): void {
  if (typeof err === 'object' && err !== null) stale.add(err);
}

/** True when a statement ahead of the query already took `err` as its own (see {@link claimVanishedAhead}). */
export function isVanishedAhead(err: unknown): boolean {
  return typeof err === 'object' && err !== null && vanishedAhead.has(err);
}

/**
 * A statement ahead of a query failed with `err` because the server lost it: true for the first one to claim
 * it (the one the server failed; those behind it were skipped with the same error), and `err` is stale.
 */
export function claimVanishedAhead(err: Error): boolean {
  if (vanishedAhead.has(err)) return false;
  vanishedAhead.add(err);
  stale.add(err);
  return true;
}
