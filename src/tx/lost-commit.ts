import { CommitUnknownError } from '../errors.js';
import { noteWrite } from '../pool/scope-context.js';
import { lostCommitVerdict, resolveUntil } from './commit-resolution.js';
import { askCommitOutcome, type ResolvedOutcome } from './commit-resolver.js';
import { logCommit, logCommitResolved, logRollback } from './tx-log.js';
import type { TxRecord } from './tx-record.js';
import type { XidCapture } from './xid-capture.js';

/**
 * Rule 5: the connection was lost (`err`) while COMMIT was in flight. The connection is destroyed first, so
 * its place in the pool can serve the question; then, when the transaction's id was learned in COMMIT's
 * flight (`capture`), the server is asked what became of it, until the scope's deadline or 5 s:
 * committed → resolves (counted as a commit); aborted → rejects with `err`, which `isRetryable` accepts;
 * anything else → rejects with `CommitUnknownError` (with the id when known). A `readOnly` transaction has
 * nothing to ask about and nothing that could be lost: it rejects with `err` at once.
 */
export async function settleLostCommit(
  tx: TxRecord,
  err: unknown,
  capture: XidCapture | undefined,
): Promise<void> {
  const { log, outcomes } = tx.core;
  const started = performance.now();
  if (tx.settings.readOnly && tx.core.settings.resolveCommitOutcome) {
    // READ ONLY: PostgreSQL refused every write, so whichever way COMMIT went no data changed. Rejected as a
    // connection lost before COMMIT (retryable: `retry` runs the reads again), not as an unknown outcome that
    // nobody could reconcile. (A NOTIFY sent in it may or may not have been delivered.)
    await tx.finish('broken');
    tx.sm.fail();
    outcomes.rolledBack();
    logRollback(log, tx, 'connection lost', err);
    throw err;
  }
  const answer = tx.xid !== undefined ? { xid: tx.xid } : (capture?.answer ?? 'notAsked');
  const verdict = lostCommitVerdict(answer);
  const xid = typeof answer === 'object' ? (answer.xid ?? undefined) : undefined;
  // A connection the caller acquired is taken away too: the pool's room is what the question needs.
  if (verdict === 'ask' && !tx.ownsLease) await tx.lease.revoke('broken');
  await tx.finish('broken');
  let outcome: ResolvedOutcome = verdict === 'aborted' ? 'aborted' : 'unknown';
  if (verdict === 'ask' && xid !== undefined) {
    const until = resolveUntil(started, tx.watch?.deadline);
    outcome = await askCommitOutcome(tx.core, xid, until, tx.settings.signal);
  }
  if (outcome === 'committed') {
    tx.sm.commit();
    outcomes.committed();
    if (!tx.settings.readOnly) noteWrite(tx.core);
    logCommitResolved(log, tx, outcome, xid, performance.now() - started, err);
    logCommit(log, tx, performance.now() - tx.startedAt);
    return;
  }
  tx.sm.fail();
  // The cause is the first sign of the loss: the id statement's, when it failed before COMMIT's own error.
  if (outcome === 'unknown') throw new CommitUnknownError(capture?.lostBy ?? err, xid);
  // Nothing committed: as for a connection lost before COMMIT was sent.
  outcomes.rolledBack();
  logCommitResolved(log, tx, outcome, xid, performance.now() - started, err);
  logRollback(log, tx, 'connection lost', err);
  throw err;
}
