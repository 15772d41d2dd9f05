/**
 * pg-scope: a bounded PostgreSQL connection pool with acquire and transaction scopes whose exit decides —
 * commit or roll back, return the connection or destroy it.
 */
export {
  CommitUnknownError,
  ConfigError,
  ConnectError,
  NestedAcquireError,
  PgScopeError,
  type PgScopeErrorCode,
  PoolClosedError,
  PoolExhaustedError,
  type PoolExhaustedReason,
  SavepointOpenError,
  ScopeClosedError,
  TransactionRolledBackError,
  TransactionTimeoutError,
  UnsupportedStatementError,
} from './errors.js';
export {
  type AcquireMessage,
  ChannelName,
  type ConnectMessage,
  type PoolMessage,
  type QueryMessage,
  type ReleaseMessage,
  type ServerTarget,
  type TransactionAttemptMessage,
  type TransactionMessage,
  type TransactionOutcome,
} from './logging/channels.js';
export { type DestroyReason, LogEvent, type LogEventName } from './logging/events.js';
export type { AcquireOptions } from './pool/acquire-options.js';
export {
  LOAD_BALANCE_MODES,
  type LoadBalanceMode,
  TARGET_SESSION_ATTRS,
  type TargetSessionAttrs,
} from './pool/hosts.js';
export type { CloseOptions } from './pool/pool-close.js';
export {
  NESTED_ACQUIRE_MODES,
  type NestedAcquireMode,
  type OnConnect,
  type PoolConfig,
  RESET_MODES,
  type ResetMode,
} from './pool/pool-config.js';
export type { ReplicaConfig } from './pool/replica-options.js';
export type { AmbientScope } from './scope/ambient-scope.js';
export { Connection } from './scope/connection.js';
export type { PingOptions } from './scope/ping.js';
export { createPool, Pool } from './scope/pool.js';
export type { LongestBorrow, PoolStats, PoolSummary, StatementStats } from './stats.js';
export { isRetryable } from './tx/retry.js';
export { Transaction } from './tx/transaction.js';
export type { TransactionState } from './tx/transaction-state.js';
export {
  ISOLATION_LEVELS,
  type IsolationLevel,
  PROPAGATIONS,
  type Propagation,
  type RetryOptions,
  type TransactionOptions,
} from './tx/tx-options.js';
