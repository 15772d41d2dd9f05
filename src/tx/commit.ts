import { TransactionRolledBackError } from '../errors.js';
import { noteWrite } from '../pool/scope-context.js';
import { errorCode } from '../util/error-code.js';
import { classifyCommit } from './commit-outcome.js';
import { settleLostCommit } from './lost-commit.js';
import { rollback } from './rollback.js';
import { releaseSavepointSql } from './savepoint-sql.js';
import { logCommit, logRollback } from './tx-log.js';
import type { TxRecord } from './tx-record.js';
import { XidCapture } from './xid-capture.js';

/**
 * Commits a top-level transaction (a savepoint: releases it), the caller having passed the guard. Rejects with
 * pg's error when the server refuses the COMMIT, with `TransactionRolledBackError` when an earlier statement
 * failed (or a joined scope did), with the connection's error when it died before COMMIT was sent. When the
 * connection is lost while COMMIT is in flight, the server is asked what became of the transaction (rule 5,
 * see `settleLostCommit`): resolves if it committed, rejects with the connection error if not, and with
 * `CommitUnknownError` when that cannot be learned.
 */
export async function commit(tx: TxRecord): Promise<void> {
  tx.watch?.stop();
  if (tx.parent) return releaseSavepoint(tx);
  const { log, outcomes } = tx.core;
  if (!tx.flight.begun) {
    // Nothing was sent: there is nothing to commit.
    tx.sm.commit();
    outcomes.committed();
    logCommit(log, tx, performance.now() - tx.startedAt);
    return tx.finish(undefined);
  }
  const lease = tx.lease;
  if (tx.sm.rollbackOnly) {
    const cause = tx.sm.rollbackOnlyCause;
    await rollback(tx, 'joined scope failed', cause);
    throw new TransactionRolledBackError(cause, true);
  }
  // A named BEGIN not answered yet (see ClientInfo.beginHold): COMMIT, and the id statement with it, wait.
  const hold = lease.info.beginHold;
  if (hold !== undefined) await hold;
  const beginError = tx.flight.beginError;
  if (beginError !== undefined && lease.info.brokenBy === undefined) {
    // BEGIN (or the `settings` statement) failed: nothing of the transaction can commit, and the server may
    // be outside any transaction, where a COMMIT would answer as if it had.
    await rollback(tx, 'error', beginError);
    throw new TransactionRolledBackError(beginError);
  }
  if (lease.rawClient.getTransactionStatus() === 'E' && lease.info.inflight === 0) {
    await rollback(tx, 'error');
    throw new TransactionRolledBackError(tx.firstError);
  }
  if (lease.info.brokenBy !== undefined) {
    // The connection died before COMMIT was sent: the server rolled the transaction back.
    tx.sm.fail();
    outcomes.rolledBack();
    logRollback(log, tx, 'connection lost', lease.info.brokenBy);
    await tx.finish('broken');
    throw lease.info.brokenBy;
  }
  // Rule 5: unless it was learned with an earlier statement, the id travels with COMMIT, so a COMMIT whose
  // answer is lost can be asked about. A read-only transaction has no id to learn: nothing of it can be lost.
  const capture =
    tx.core.settings.resolveCommitOutcome && !tx.settings.readOnly && tx.xid === undefined
      ? new XidCapture(lease)
      : undefined;
  let command: string;
  try {
    command = (await lease.query('COMMIT')).command;
  } catch (err) {
    const outcome = classifyCommit({ ok: false, err });
    if (outcome === 'unknown') return settleLostCommit(tx, err, capture);
    tx.sm.fail();
    outcomes.rolledBack();
    logRollback(log, tx, 'commit failed', err);
    // The server answered the COMMIT with an error: the transaction is over (rolled back).
    if (outcome === 'refused') lease.transactionEndedByServer();
    await tx.finish(outcome === 'lost' ? 'broken' : undefined);
    throw err;
  }
  if (classifyCommit({ ok: true, command }) === 'rolledBack') {
    tx.sm.rollBack();
    outcomes.rolledBack();
    logRollback(log, tx, 'error', tx.firstError);
    await tx.finish(undefined);
    throw new TransactionRolledBackError(tx.firstError);
  }
  tx.sm.commit();
  outcomes.committed();
  // Read your writes: later read-only scopes of this async context must see this commit (see replica-router).
  // Only a pool with replicas routes read-only scopes by it.
  if (!tx.settings.readOnly && tx.core.settings.replicas) noteWrite(tx.core);
  logCommit(log, tx, performance.now() - tx.startedAt);
  await tx.finish(undefined);
}

/** RELEASE SAVEPOINT; a savepoint whose work failed rolls back to itself instead and rejects. */
async function releaseSavepoint(tx: TxRecord): Promise<void> {
  const lease = tx.lease;
  if (lease.rawClient.getTransactionStatus() === 'E' && lease.info.inflight === 0) {
    await rollback(tx, 'error');
    throw new TransactionRolledBackError(tx.firstError);
  }
  try {
    await lease.query(releaseSavepointSql(tx.savepoint));
  } catch (err) {
    if (errorCode(err) === '25P02' && tx.firstError !== undefined) {
      // pg rejects a failed statement on the server's ErrorResponse, before the ReadyForQuery that reports
      // the aborted state, so the status check above can miss it: roll back to the savepoint instead.
      await rollback(tx, 'error', tx.firstError);
      throw new TransactionRolledBackError(tx.firstError);
    }
    tx.sm.fail();
    tx.parent?.recordError(err);
    throw err;
  }
  tx.sm.commit();
}
