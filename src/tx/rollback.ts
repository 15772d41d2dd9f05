import { sendCancelRequest } from '../pool/cancel-request.js';
import { pollUntil } from '../util/timers.js';
import type { AbortReason } from './deadline-watch.js';
import { releaseSavepointSql, rollbackToSavepointSql } from './savepoint-sql.js';
import { logRollback, logRollbackFailed } from './tx-log.js';
import type { TxRecord } from './tx-record.js';

/** How long an aborted transaction waits for its cancelled query to stop before destroying the connection. */
const CANCEL_GRACE_MILLIS = 1_000;

/**
 * Ends the transaction (a savepoint: rolls back to it) without committing, with the savepoints still open
 * inside it. Never rejects: a failed ROLLBACK is logged (and attached to `cause` as `suppressed`) and the
 * connection destroyed; a connection still running a statement, or gone, is destroyed without a ROLLBACK.
 */
export async function rollback(tx: TxRecord, reason: string, cause?: unknown): Promise<void> {
  tx.watch?.stop();
  if (!tx.sm.active) return tx.finish(undefined);
  tx.sm.rollBack();
  const log = tx.core.log;
  // ROLLBACK (TO SAVEPOINT) ends every savepoint opened inside this one too: their handles are closed.
  for (let open = tx.openChild(); open; open = open.openChild()) {
    open.sm.rollBack(`rolled back with ${tx.parent ? 'the enclosing savepoint' : 'the transaction'}`);
    logRollback(log, open, 'enclosing transaction rolled back', cause);
  }
  const lease = tx.lease;
  if (!tx.parent) tx.core.outcomes.rolledBack();
  logRollback(log, tx, reason, cause);
  if (!tx.flight.begun || lease.state !== 'leased') return tx.finish(undefined);
  if (lease.info.inflight > 0 || lease.info.brokenBy !== undefined) {
    // A statement is still running (the callback did not await it) or the connection is gone: never reuse.
    const why = lease.info.brokenBy !== undefined ? 'broken' : 'query still running';
    if (!tx.ownsLease) await lease.revoke(why);
    return tx.finish(why);
  }
  try {
    if (tx.parent) {
      await lease.query(rollbackToSavepointSql(tx.savepoint));
      await lease.query(releaseSavepointSql(tx.savepoint));
    } else {
      await lease.query('ROLLBACK');
    }
  } catch (err) {
    tx.sm.fail();
    logRollbackFailed(log, tx, err);
    attachSuppressed(cause, err);
    if (!tx.ownsLease) await lease.revoke('reset failed');
    return tx.finish('reset failed');
  }
  return tx.finish(undefined);
}

/**
 * Deadline or abort: every later use fails with `err`; the running statement is cancelled (given
 * CANCEL_GRACE_MILLIS to stop), then the transaction rolls back (or its connection is destroyed). Once only.
 */
export function abort(tx: TxRecord, err: unknown, reason: AbortReason): Promise<void> {
  if (!tx.sm.active || tx.aborting) return tx.aborting ?? Promise.resolve();
  tx.sm.abort(err);
  tx.watch?.reject(err);
  tx.aborting = (async () => {
    const lease = tx.lease;
    // With BEGIN unanswered no cancel is sent (see ClientInfo.beginUnanswered): the rollback closes the connection.
    if (lease.info.inflight > 0 && lease.state === 'leased' && !lease.info.beginUnanswered) {
      // The grace runs from now, alongside the cancel request: a cancel sent into a dead network (it takes its
      // own socket, which a partition swallows too) would otherwise add its whole timeout to every deadline.
      const until = performance.now() + CANCEL_GRACE_MILLIS;
      void sendCancelRequest(lease.rawClient);
      await pollUntil(() => lease.info.inflight === 0, until, 5);
    }
    await rollback(tx, reason, err);
  })();
  return tx.aborting;
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
