import type pg from 'pg';
import type { Lease } from '../pool/lease.js';
import { logResend } from './tx-log.js';
import type { TxRecord } from './tx-record.js';
import { askXidEarly, wroteLast } from './xid-capture.js';

/**
 * Sends a statement in the transaction (the caller having passed the guard): BEGIN first if still deferred,
 * in one flight with it. A failed statement rejects with pg's error (or BEGIN's, see `statementError`) and
 * is recorded as the transaction's error.
 */
export function sendStatement<R extends pg.QueryResultRow>(
  tx: TxRecord,
  text: string | pg.QueryConfig,
  values: unknown[] | undefined,
): Promise<pg.QueryResult<R>> {
  const root = tx.root();
  // BEGIN (or the `settings` statement) failed: the server may be outside any transaction, where this
  // statement would commit on its own. It is not sent.
  const beginError = root.flight.beginError;
  if (beginError !== undefined) {
    try {
      tx.statementFailed(beginError);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  const first = tx.flight.enter();
  const begun = root.flight.begun;
  root.ensureBegun(true);
  // After the transaction's first write, its id rides in front of the next statement (see xid-capture.ts).
  if (begun && !root.xidAsked && wroteLast(tx.lease) && root.core.settings.resolveCommitOutcome) {
    askXidEarly(root);
  }
  const failed = tx.statementFailed as (err: unknown) => Promise<pg.QueryResult<R>>;
  return tx.lease.query<R>(
    text,
    values,
    first ? (err: unknown) => resendFirstFlight<R>(tx, err, text, values).catch(failed) : failed,
  );
}

/**
 * The connection died under the first flight before any answer to it arrived (see `FirstFlight`): the same
 * flight goes once more on another connection of the pool, and the dead one is destroyed. Anything else (an
 * answer came, more than one statement was in flight, a statement timeout, no connection to be had)
 * rethrows `err`.
 */
async function resendFirstFlight<R extends pg.QueryResultRow>(
  tx: TxRecord,
  err: unknown,
  text: string | pg.QueryConfig,
  values: unknown[] | undefined,
): Promise<pg.QueryResult<R>> {
  const old = tx.lease;
  const acquire = tx.flight.takeResend(err, old);
  if (!acquire || !tx.sm.active || tx.sm.aborted) throw err;
  let lease: Lease;
  try {
    lease = await acquire();
  } catch {
    // No other connection: the caller sees the connection loss, as without the re-send.
    throw err;
  }
  if (!tx.sm.active || tx.sm.aborted) {
    await lease.end();
    throw err;
  }
  tx.watch?.moveTo(lease);
  void old.end('broken');
  tx.lease = lease;
  tx.flight.restart();
  tx.firstError = undefined;
  logResend(tx.core.log, tx, old.id, err);
  tx.ensureBegun(true);
  return lease.query<R>(text, values);
}
