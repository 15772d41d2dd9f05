import type { ClientConfig } from 'pg';
import type { Logger } from 'pino';
import type { AllowedSettings } from './allowed-settings.js';
import type { ClientOptions } from './client-options.js';
import type { HostPlan, LoadBalanceMode, TargetSessionAttrs } from './hosts.js';
import type { ReplicaConfig } from './replica-options.js';

/**
 * What `createPool` takes (`PoolConfig`) and what it makes of it (`PoolSettings`); the checks and defaults
 * that turn one into the other are in pool-options.ts.
 */

/** What `resetOnRelease` accepts. */
export const RESET_MODES = ['rollback', 'discard'] as const;
/** What to do to a connection before it goes back to the pool: see `PoolConfig.resetOnRelease`. */
export type ResetMode = (typeof RESET_MODES)[number];

/** What `nestedAcquire` accepts. */
export const NESTED_ACQUIRE_MODES = ['warn', 'error', 'allow'] as const;
/** How to treat an acquire from inside a scope of the same pool: see `PoolConfig.nestedAcquire`. */
export type NestedAcquireMode = (typeof NESTED_ACQUIRE_MODES)[number];

/** A per-connection setup hook, run once after a server connection opens and before any scope uses it. */
export type OnConnect = (client: import('pg').Client) => Promise<void> | void;

/**
 * Options of `createPool`: pg's `ClientConfig` (every field reaches the driver unchanged) plus the pool's own.
 * Every timeout is in milliseconds; `Infinity` is the explicit way to wait forever.
 */
export interface PoolConfig extends Omit<ClientConfig, 'host' | 'port'> {
  /** The server's host, or several (an array, or libpq's comma-separated list): see `targetSessionAttrs`. */
  host?: string | readonly string[];
  /** The server's port, or one per host. */
  port?: number | readonly number[];
  /** Hard bound on open server connections. Default 10. */
  max?: number;
  /** Connections kept open when idle. Default 0. */
  min?: number;
  /** How long an acquire waits for a connection. 0 = fail fast with `PoolExhaustedError` reason `'no-wait'`. Default 10 000. */
  acquireTimeoutMillis?: number;
  /** Bound on queued acquirers; beyond it acquire fails at once (reason `'queue-full'`). Default 10 000. */
  maxWaiting?: number;
  /** An idle connection above `min` is closed after this long. Default 30 000. */
  idleTimeoutMillis?: number;
  /** Connections are recycled after this age, less up to 10% random jitter. Default 1 800 000 (30 min). */
  maxLifetimeMillis?: number;
  /** A connection is closed when it comes back for the `maxUses`-th time (pg.Pool's name). Default Infinity. */
  maxUses?: number;
  /** Bound on one connection attempt (TCP, TLS, startup, `onConnect`). Default 10 000. */
  connectTimeoutMillis?: number;
  /** > 0: warn with the acquirer's stack when a connection is held longer than this. Default 0 (off). */
  leakDetectionMillis?: number;
  /** Warn when an acquire waited longer than this. Default: half of `acquireTimeoutMillis`. */
  slowAcquireMillis?: number;
  /** Session default `statement_timeout` for every connection, if set. */
  statementTimeoutMillis?: number;
  /** A pino logger; default: pino at level `PG_SCOPE_LOG_LEVEL` or `'warn'`. */
  logger?: Logger;
  /** Per-connection session setup; a failure closes the connection and counts as a connect failure. */
  onConnect?: OnConnect;
  /** What to do to a connection before it goes back to the pool. Default `'rollback'`. */
  resetOnRelease?: ResetMode;
  /** An acquire from inside a scope of the same pool, in the same async context. Default `'warn'`. */
  nestedAcquire?: NestedAcquireMode;
  /**
   * `true`: idle connections and the pool's background timers (idle eviction, leak sweep) do not keep the
   * process alive (pg.Pool's option of the same name); a borrowed connection, a waiting acquire or a
   * transaction's deadline still does. Default `false`: an idle connection keeps it alive until it is closed.
   */
  allowExitOnIdle?: boolean;
  /**
   * The names a transaction's `settings` may set: exact names (`'statement_timeout'`) and prefixes ending in
   * `'.'` (`'app.'`), compared case-insensitively. A transaction asking for any other name is refused with
   * `ConfigError` before anything is sent. Default: unset, every setting name allowed (`role`,
   * `session_authorization` and `search_path` included; see docs/security.md). `[]` allows none.
   */
  allowedSettings?: readonly string[];
  /** Read replicas: read-only scopes run there (see docs/replicas.md). Each is a pool of its own. */
  replicas?: readonly ReplicaConfig[];
  /** With `replicas`: a replica further behind the primary than this gets no new read-only work. */
  maxReplicaLagMillis?: number;
  /**
   * With several hosts: which server a connection may go to, as libpq's `target_session_attrs`. Default
   * `'read-write'` with several hosts, `'any'` with one.
   */
  targetSessionAttrs?: TargetSessionAttrs;
  /** With several hosts: `'disable'` (try them in order, the default) or `'random'`. */
  loadBalanceHosts?: LoadBalanceMode;
  /**
   * `true`: a query with values is sent as a named prepared statement, named after its text and cached per
   * connection, so after the first run the server skips parsing and planning it (see docs/prepared-statements.md
   * for poolers). Default `false`: unnamed statements only, which work behind any pooler.
   */
  prepare?: boolean;
  /** With `prepare`: named statements kept per connection, least recently used closed first. Default 256. */
  statementCacheSize?: number;
  /**
   * `true` (default): a COMMIT whose answer was lost with the connection is resolved by asking the server on
   * another connection what became of the transaction (`pg_xact_status`), for at most the scope's remaining
   * deadline or 5 s: committed resolves, aborted rejects with the connection error (retryable), anything else
   * rejects with `CommitUnknownError` carrying the transaction id. The id is learned in a socket write the
   * transaction makes anyway (no extra round trip). `false`: every lost COMMIT rejects with
   * `CommitUnknownError`, and no id is asked for.
   */
  resolveCommitOutcome?: boolean;
  /**
   * The pool's name in log lines (the `pool` field), diagnostics_channel messages, metrics and spans
   * (`db.client.connection.pool.name`). A non-empty string of at most 256 characters. Default: the
   * `application_name` (given as an option or in the connection string), else `'pg-scope'`.
   */
  name?: string;
}

/** The pool's own options after defaults and validation; frozen. */
export interface PoolSettings {
  readonly max: number;
  readonly min: number;
  readonly acquireTimeoutMillis: number;
  readonly maxWaiting: number;
  readonly idleTimeoutMillis: number;
  readonly maxLifetimeMillis: number;
  readonly maxUses: number;
  readonly connectTimeoutMillis: number;
  readonly leakDetectionMillis: number;
  readonly slowAcquireMillis: number;
  readonly statementTimeoutMillis: number | undefined;
  readonly logger: Logger | undefined;
  readonly onConnect: OnConnect | undefined;
  readonly resetOnRelease: ResetMode;
  readonly nestedAcquire: NestedAcquireMode;
  readonly allowExitOnIdle: boolean;
  /** The checked `allowedSettings`; undefined: every setting name allowed. */
  readonly allowedSettings: AllowedSettings | undefined;
  /** Whether queries with values are sent as named statements, cached per connection. */
  readonly prepare: boolean;
  /** Named statements kept per connection with `prepare`. */
  readonly statementCacheSize: number;
  /** Several hosts, or a `targetSessionAttrs`: how each connection picks its server. */
  readonly hostPlan: HostPlan | undefined;
  /** Each replica's own pool settings (undefined: no replicas). */
  readonly replicas: readonly PoolSettings[] | undefined;
  readonly maxReplicaLagMillis: number | undefined;
  /** Ask the server what became of a transaction whose COMMIT answer was lost (see `PoolConfig`). */
  readonly resolveCommitOutcome: boolean;
  /** The checked `name`; undefined: the default (`application_name`, else 'pg-scope'). */
  readonly name: string | undefined;
  /**
   * What reaches `new pg.Client(...)` (through `driverConfig()`): the caller's ClientConfig less the pool's own
   * keys, with the password and connection string in private fields.
   */
  readonly clientConfig: ClientOptions;
}
