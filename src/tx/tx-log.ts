import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import type { TxSettings } from './tx-options.js';

/**
 * What a transaction logs: begun, committed and rolled back at debug, a failed ROLLBACK at error. Every
 * payload is built only when its level is on; ids are built only then too.
 */
export interface TxIds {
  /** The transaction's id (`txId`). */
  readonly id: string;
  /** The connection's scope id (`scopeId`). */
  readonly scopeId: string;
}

/** BEGIN was sent. */
export function logBegin(log: Logger, tx: TxIds, settings: TxSettings): void {
  if (!log.isLevelEnabled('debug')) return;
  log.debug(
    {
      event: LogEvent.txBegin,
      txId: tx.id,
      scopeId: tx.scopeId,
      isolation: settings.isolation,
      readOnly: settings.readOnly,
    },
    'transaction begun',
  );
}

/** The transaction committed after `durationMillis`. */
export function logCommit(log: Logger, tx: TxIds, durationMillis: number): void {
  if (!log.isLevelEnabled('debug')) return;
  log.debug(
    {
      event: LogEvent.txCommit,
      txId: tx.id,
      scopeId: tx.scopeId,
      durationMillis: Math.round(durationMillis),
    },
    'transaction committed',
  );
}

/** The transaction (or savepoint) rolled back, for `reason`. */
export function logRollback(log: Logger, tx: TxIds, reason: string, err: unknown): void {
  if (!log.isLevelEnabled('debug')) return;
  log.debug(
    { event: LogEvent.txRollback, txId: tx.id, scopeId: tx.scopeId, reason, err },
    'transaction rolled back',
  );
}

/** ROLLBACK failed: the connection is destroyed. */
export function logRollbackFailed(log: Logger, tx: TxIds, err: unknown): void {
  if (!log.isLevelEnabled('error')) return;
  log.error(
    { event: LogEvent.txRollbackFailed, txId: tx.id, scopeId: tx.scopeId, err },
    'ROLLBACK failed; destroying the connection',
  );
}

/** The first flight was re-sent on another connection. */
export function logResend(log: Logger, tx: TxIds, previousScopeId: string, err: unknown): void {
  if (!log.isLevelEnabled('info')) return;
  log.info(
    { event: LogEvent.txResend, txId: tx.id, scopeId: tx.scopeId, previousScopeId, err },
    'connection lost before any answer to the first statement; re-sent on another connection',
  );
}

/**
 * The connection was lost while COMMIT was in flight, and the server said what became of the transaction:
 * `outcome`, its `xid` (undefined when the server ended the session before reading the COMMIT).
 */
export function logCommitResolved(
  log: Logger,
  tx: TxIds,
  outcome: 'committed' | 'aborted',
  xid: string | undefined,
  resolveMillis: number,
  err: unknown,
): void {
  if (!log.isLevelEnabled('warn')) return;
  log.warn(
    {
      event: LogEvent.txCommitResolved,
      txId: tx.id,
      scopeId: tx.scopeId,
      outcome,
      xid,
      resolveMillis: Math.round(resolveMillis),
      err,
    },
    outcome === 'committed'
      ? 'connection lost while COMMIT was in flight; the server says the transaction committed'
      : 'connection lost while COMMIT was in flight; the server says the transaction did not commit',
  );
}
