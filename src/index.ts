/**
 * pg-scope: a bounded PostgreSQL connection pool with acquire and transaction scopes whose exit decides —
 * commit or roll back, return the connection or destroy it.
 */
export {
  CommitUnknownError,
  ConfigError,
  ConnectError,
  type LongestBorrow,
  NestedAcquireError,
  PgScopeError,
  type PgScopeErrorCode,
  PoolClosedError,
  PoolExhaustedError,
  type PoolExhaustedReason,
  type PoolStats,
  SavepointOpenError,
  ScopeClosedError,
  TransactionRolledBackError,
  TransactionTimeoutError,
  UnsupportedStatementError,
} from './errors.js';
export { type DestroyReason, LogEvent, type LogEventName } from './logging/events.js';
export {
  NESTED_ACQUIRE_MODES,
  type NestedAcquireMode,
  type OnConnect,
  type PoolConfig,
  RESET_MODES,
  type ResetMode,
} from './pool/pool-options.js';
export { Connection } from './scope/connection.js';
export type { AcquireOptions, CloseOptions, PingOptions } from './scope/pool.js';
export { type AmbientScope, createPool, Pool } from './scope/pool.js';
export { isRetryable } from './tx/retry.js';
export { Transaction, type TransactionState } from './tx/transaction.js';
export {
  ISOLATION_LEVELS,
  type IsolationLevel,
  PROPAGATIONS,
  type Propagation,
  type RetryOptions,
  type TransactionOptions,
} from './tx/tx-options.js';
