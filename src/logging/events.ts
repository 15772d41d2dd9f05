/**
 * The `event` field of every log line pg-scope writes, with the fields each line carries. Every line also has
 * `pool` (the pool's `application_name`, or `'pg-scope'`); the lines of an acquire scope have its `scopeId`,
 * and a transaction's lines its `txId` too, so one scope can be followed through the stream. Errors are under
 * `err` (type, message, code, the server's detail and hint), with the password and connection string
 * removed and each text cut to 8 KB (`MAX_TEXT_CHARS` in `redact.ts`); query parameter values are never
 * logged.
 *
 * Levels: the hot path (acquire, release, begin, commit, rollback, connect) at debug; exhaustion, slow
 * acquires, leaks, connection errors and connections destroyed because they broke at warn; failed rollbacks at
 * error.
 */
export const LogEvent = {
  /** debug — a server connection opened: `connectionId`, `connectMillis`. */
  connect: 'pool.connect',
  /**
   * warn — a connection attempt failed: `attempt` (1, 2, … while callers wait), `code`, `permanent`, `err`
   * (with its stack on the first failure of a run only; later ones carry the message and code).
   */
  connectError: 'pool.connectError',
  /** debug — a scope got a connection: `scopeId`, `waitMillis`. */
  acquire: 'pool.acquire',
  /** warn — an acquire waited `slowAcquireMillis` or longer: `scopeId`, `waitMillis`, `stats`. */
  slowAcquire: 'pool.slowAcquire',
  /** debug — a scope gave its connection back: `scopeId`, `heldMillis`. */
  release: 'pool.release',
  /**
   * warn — an acquire failed with `PoolExhaustedError`: `reason`, `stats`, `waitMillis` of the latest one, and
   * `count`, the errors since the previous such line. A burst is aggregated per pool: the first error is
   * written at once, then at most one line per second.
   */
  exhausted: 'pool.exhausted',
  /**
   * A connection closed for good: `connectionId`, `reason` (see {@link DestroyReason}), `scopeId` when taken
   * from a scope. warn when it broke or could not be made safe, debug otherwise.
   */
  destroy: 'pool.destroy',
  /**
   * warn — an acquire inside a scope of the same pool (`nestedAcquire: 'warn'`): `scopeId` of the outer scope,
   * `stack` of the inner acquire, `outerStack` when leak detection captured it.
   */
  nestedAcquire: 'pool.nestedAcquire',
  /**
   * warn — a connection came back inside a transaction and is rolled back (`scopeId`, `transactionStatus`),
   * or its reset failed (`scopeId`, `err`).
   */
  reset: 'pool.reset',
  /**
   * debug — `pool.query()` ran outside any scope while an `await using` transaction of the pool was open, so
   * not in it (that form is not an ambient scope): `txId`, `scopeId` of the open transaction. Once per
   * transaction.
   */
  queryOutsideTransaction: 'pool.queryOutsideTransaction',
  /** debug — the pool is closing: `stats`. */
  close: 'pool.close',
  /** warn — a connection reported an error (terminated backend, socket error): `connectionId`, `err`. */
  connError: 'conn.error',
  /**
   * warn — a connection held longer than `leakDetectionMillis`, once per lease: `scopeId`, `heldMillis`, and
   * the acquirer's `stack`.
   */
  leak: 'leak',
  /** info — a connection reported as leaked came back: `scopeId`, `heldMillis`. */
  leakEnded: 'leak.ended',
  /** debug — BEGIN sent (with the first statement): `txId`, `scopeId`, `isolation`, `readOnly`. */
  txBegin: 'tx.begin',
  /** debug — committed: `txId`, `scopeId`, `durationMillis`. */
  txCommit: 'tx.commit',
  /**
   * debug — rolled back: `txId`, `scopeId`, `reason` (`'error'`, `'disposed without commit'`, `'timeout'`,
   * `'abort'`, `'rollback requested'`, `'commit failed'`, `'connection lost'`, `'joined scope failed'`), `err`.
   */
  txRollback: 'tx.rollback',
  /**
   * info — a retryable failure; the callback runs again after `delayMillis`: `txId` and `scopeId` of the failed
   * attempt, `attempt` (1 for the first), `sqlstate`, `err`.
   */
  txRetry: 'tx.retry',
  /**
   * info — the connection died under a transaction's first flight (BEGIN and its first statement) before any
   * answer arrived; the flight was sent again on another connection, unseen by the callback: `txId`, `scopeId`
   * (the new connection's scope), `previousScopeId`, `err`.
   */
  txResend: 'tx.resend',
  /**
   * warn — `prepare: true` turned itself off for the pool, once: named statements kept vanishing from their
   * server connections (a pooler in transaction mode that does not keep them): `vanished`, `lastCode`.
   */
  stmtDisabled: 'stmt.disabled',
  /**
   * warn — the connection was lost while COMMIT was in flight and the server said what became of the
   * transaction (`resolveCommitOutcome`): `txId`, `scopeId` (the lost connection's), `outcome` (`'committed'`:
   * the scope resolves; `'aborted'`: it rejects with the connection error, which `retry` may run again),
   * `xid` (undefined when the server ended the session before it read the COMMIT), `resolveMillis`, `err`
   * (the connection error).
   */
  txCommitResolved: 'tx.commitResolved',
  /** error — ROLLBACK failed; the connection is destroyed: `txId`, `scopeId`, `err`. */
  txRollbackFailed: 'tx.rollbackFailed',
  /**
   * warn — a multi-host pool (`targetSessionAttrs` `'read-write'` or `'primary'`) opened a connection on
   * another server than its previous one: the primary is elsewhere now (a failover). `from`, `to` (`host:port`).
   */
  hostSwitched: 'host.switched',
  /**
   * warn — a replica gets no new read-only work: `replica` (its name), `host`, `reason` (`'down'`, `'not in
   * recovery'`, `'lagging'`), `lagMillis` when lagging, `err` when down.
   */
  replicaDown: 'replica.down',
  /** info — a replica taken out is used again: `replica`, `host`. */
  replicaUp: 'replica.up',
} as const;

/** The value of a log line's `event` field. */
export type LogEventName = (typeof LogEvent)[keyof typeof LogEvent];

/** Why a connection left the pool for good (`pool.destroy`'s `reason`). */
export type DestroyReason =
  | 'broken'
  | 'expired'
  | 'max uses'
  | 'idle'
  | 'reset failed'
  | 'query still running'
  | 'scope ended abnormally'
  | 'released with an error'
  | 'pool closed'
  | 'not needed';
