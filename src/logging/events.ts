/**
 * The `event` field of every log line pg-scope writes. Hot-path events are logged at debug; exhaustion, leaks
 * and connections destroyed because they broke at warn; failed rollbacks at error.
 */
export const LogEvent = {
  connect: 'pool.connect',
  connectError: 'pool.connectError',
  acquire: 'pool.acquire',
  slowAcquire: 'pool.slowAcquire',
  release: 'pool.release',
  exhausted: 'pool.exhausted',
  destroy: 'pool.destroy',
  nestedAcquire: 'pool.nestedAcquire',
  reset: 'pool.reset',
  close: 'pool.close',
  connError: 'conn.error',
  leak: 'leak',
  leakEnded: 'leak.ended',
  txBegin: 'tx.begin',
  txCommit: 'tx.commit',
  txRollback: 'tx.rollback',
  txRetry: 'tx.retry',
  txRollbackFailed: 'tx.rollbackFailed',
} as const;

export type LogEventName = (typeof LogEvent)[keyof typeof LogEvent];

/** Why a connection left the pool for good (`pool.destroy`'s `reason`). */
export type DestroyReason =
  | 'broken'
  | 'expired'
  | 'idle'
  | 'reset failed'
  | 'query still running'
  | 'scope ended abnormally'
  | 'pool closed'
  | 'not needed';
