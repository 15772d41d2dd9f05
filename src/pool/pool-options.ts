import type { ClientConfig } from 'pg';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { checkCount, checkMillis, checkOneOf, describeValue, likelyTypo } from '../util/option-checks.js';
import { MAX_TIMER_MILLIS } from '../util/timers.js';
import { type AllowedSettings, normalizeAllowedSettings } from './allowed-settings.js';
import { type ClientOptions, checkClientStrings, sealClientConfig } from './client-options.js';
import { type HostPlan, type LoadBalanceMode, parseHostPlan, type TargetSessionAttrs } from './hosts.js';
import { normalizeReplicas, type ReplicaConfig } from './replica-options.js';

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

const POOL_KEYS = [
  'max',
  'min',
  'acquireTimeoutMillis',
  'maxWaiting',
  'idleTimeoutMillis',
  'maxLifetimeMillis',
  'maxUses',
  'connectTimeoutMillis',
  'leakDetectionMillis',
  'slowAcquireMillis',
  'statementTimeoutMillis',
  'logger',
  'onConnect',
  'resetOnRelease',
  'nestedAcquire',
  'allowExitOnIdle',
  'allowedSettings',
  'prepare',
  'statementCacheSize',
  'replicas',
  'maxReplicaLagMillis',
  'targetSessionAttrs',
  'loadBalanceHosts',
  'resolveCommitOutcome',
  'name',
] as const;

/** pg's ClientConfig keys (pg 8.x), passed through unchanged. */
const CLIENT_KEYS = [
  'user',
  'database',
  'password',
  'port',
  'host',
  'connectionString',
  'keepAlive',
  'keepAliveInitialDelayMillis',
  'stream',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'query_timeout',
  'ssl',
  'application_name',
  'fallback_application_name',
  'connectionTimeoutMillis',
  'types',
  'options',
  'client_encoding',
  'binary',
  'Promise',
  'enableChannelBinding',
  'pipeline',
] as const;

const KNOWN_KEYS: ReadonlySet<string> = new Set<string>([...POOL_KEYS, ...CLIENT_KEYS]);
const CLIENT_KEY_SET: ReadonlySet<string> = new Set<string>(CLIENT_KEYS);

const DEFAULTS = {
  max: 10,
  min: 0,
  acquireTimeoutMillis: 10_000,
  maxWaiting: 10_000,
  idleTimeoutMillis: 30_000,
  maxLifetimeMillis: 1_800_000,
  maxUses: Number.POSITIVE_INFINITY,
  connectTimeoutMillis: 10_000,
  leakDetectionMillis: 0,
  resetOnRelease: 'rollback',
  nestedAcquire: 'warn',
  allowExitOnIdle: false,
  prepare: false,
  statementCacheSize: 256,
  resolveCommitOutcome: true,
} as const;

function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['debug', 'info', 'warn', 'error', 'child', 'isLevelEnabled'].every(
    (m) => typeof v[m] === 'function',
  );
}

/** Longest pool `name` accepted: it goes into every log line, metric point and span. */
export const MAX_NAME_LENGTH = 256;

function checkName(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new ConfigError(
      'name',
      `expected a non-empty string of at most ${MAX_NAME_LENGTH} characters, got ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * Applies defaults and validates a pool configuration once. Throws `ConfigError` naming the field for a bad
 * value or for an unknown key that looks like a misspelt option.
 */
export function normalizePoolConfig(config: PoolConfig | undefined): PoolSettings {
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config))) {
    const hint = typeof config === 'string' ? ' (a connection string goes in { connectionString })' : '';
    throw new ConfigError('config', `expected an object, got ${describeValue(config)}${hint}`);
  }
  const input = (config ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (KNOWN_KEYS.has(key)) continue;
    const meant = likelyTypo(key, KNOWN_KEYS);
    if (meant !== undefined) throw new ConfigError(key, `unknown option; did you mean '${meant}'?`);
  }
  // Only undefined means "not given": null is a bad value, as everywhere else in the options.
  const pick = <K extends keyof typeof DEFAULTS>(key: K): unknown =>
    input[key] === undefined ? DEFAULTS[key] : input[key];

  const max = checkCount('max', pick('max'), 1);
  const min = checkCount('min', pick('min'), 0);
  if (min > max) throw new ConfigError('min', `must not exceed max (${max}), got ${min}`);
  const acquireTimeoutMillis = checkMillis('acquireTimeoutMillis', pick('acquireTimeoutMillis'), {
    allowZero: true,
    allowInfinity: true,
  });
  const maxWaiting = checkCount('maxWaiting', pick('maxWaiting'), 0, true);
  const idleTimeoutMillis = checkMillis('idleTimeoutMillis', pick('idleTimeoutMillis'), {
    allowInfinity: true,
  });
  const maxLifetimeMillis = checkMillis('maxLifetimeMillis', pick('maxLifetimeMillis'), {
    allowInfinity: true,
  });
  const maxUses = checkCount('maxUses', pick('maxUses'), 1, true);
  // pg's own name for it is accepted too; an error names the key the caller actually used.
  const connectKey =
    input.connectTimeoutMillis === undefined && input.connectionTimeoutMillis !== undefined
      ? 'connectionTimeoutMillis'
      : 'connectTimeoutMillis';
  const connectTimeoutMillis = checkMillis(
    connectKey,
    input[connectKey] === undefined ? DEFAULTS.connectTimeoutMillis : input[connectKey],
    { allowInfinity: true },
  );
  const leakDetectionMillis = checkMillis('leakDetectionMillis', pick('leakDetectionMillis'), {
    allowZero: true,
  });
  const slowAcquireMillis =
    input.slowAcquireMillis === undefined
      ? acquireTimeoutMillis === 0
        ? Number.POSITIVE_INFINITY
        : acquireTimeoutMillis / 2
      : checkMillis('slowAcquireMillis', input.slowAcquireMillis, { allowInfinity: true });
  const statementTimeoutMillis =
    input.statementTimeoutMillis === undefined
      ? undefined
      : checkMillis('statementTimeoutMillis', input.statementTimeoutMillis);
  // PostgreSQL takes whole milliseconds up to 2^31 - 1; a larger value would fail every connection attempt.
  if (
    statementTimeoutMillis !== undefined &&
    (!Number.isInteger(statementTimeoutMillis) || statementTimeoutMillis > MAX_TIMER_MILLIS)
  ) {
    throw new ConfigError(
      'statementTimeoutMillis',
      `expected whole milliseconds from 1 to ${MAX_TIMER_MILLIS}, got ${statementTimeoutMillis}`,
    );
  }
  if (input.logger !== undefined && !isLogger(input.logger)) {
    throw new ConfigError('logger', `expected a pino Logger, got ${describeValue(input.logger)}`);
  }
  if (input.onConnect !== undefined && typeof input.onConnect !== 'function') {
    throw new ConfigError('onConnect', `expected a function, got ${describeValue(input.onConnect)}`);
  }
  const resetOnRelease = checkOneOf('resetOnRelease', pick('resetOnRelease'), RESET_MODES);
  const nestedAcquire = checkOneOf('nestedAcquire', pick('nestedAcquire'), NESTED_ACQUIRE_MODES);
  const allowExitOnIdle = pick('allowExitOnIdle');
  if (typeof allowExitOnIdle !== 'boolean') {
    throw new ConfigError('allowExitOnIdle', `expected true or false, got ${describeValue(allowExitOnIdle)}`);
  }

  const resolveCommitOutcome = pick('resolveCommitOutcome');
  if (typeof resolveCommitOutcome !== 'boolean') {
    throw new ConfigError(
      'resolveCommitOutcome',
      `expected true or false, got ${describeValue(resolveCommitOutcome)}`,
    );
  }

  const allowedSettings = normalizeAllowedSettings(input.allowedSettings);
  const prepare = pick('prepare');
  if (typeof prepare !== 'boolean') {
    throw new ConfigError('prepare', `expected true or false, got ${describeValue(prepare)}`);
  }
  const statementCacheSize = checkCount('statementCacheSize', pick('statementCacheSize'), 1);
  const name = checkName(input.name);

  const clientConfig: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (!(POOL_KEYS as readonly string[]).includes(key)) clientConfig[key] = value;
  }
  // pg treats 0 as "no connect timeout"; Infinity is our explicit spelling of that.
  // pg sets a timer with it, and timers fire after 1 ms for delays above 2^31 - 1 ms: cap it there.
  clientConfig.connectionTimeoutMillis =
    connectTimeoutMillis === Number.POSITIVE_INFINITY ? 0 : Math.min(connectTimeoutMillis, MAX_TIMER_MILLIS);
  if (statementTimeoutMillis !== undefined) clientConfig.statement_timeout = statementTimeoutMillis;
  if (input.pipeline !== undefined) {
    throw new ConfigError('pipeline', 'is managed by pg-scope per transaction scope; remove it');
  }
  checkClientStrings(clientConfig);
  const hostPlan = parseHostPlan(clientConfig, input.targetSessionAttrs, input.loadBalanceHosts);
  const replicas = normalizeReplicas(input.replicas, input, CLIENT_KEY_SET, normalizePoolConfig);
  const maxReplicaLagMillis =
    input.maxReplicaLagMillis === undefined
      ? undefined
      : checkMillis('maxReplicaLagMillis', input.maxReplicaLagMillis, { allowInfinity: true });
  if (maxReplicaLagMillis !== undefined && replicas === undefined) {
    throw new ConfigError('maxReplicaLagMillis', 'applies to replicas; set replicas too');
  }

  return Object.freeze({
    max,
    min,
    acquireTimeoutMillis,
    maxWaiting,
    idleTimeoutMillis,
    maxLifetimeMillis,
    maxUses,
    connectTimeoutMillis,
    leakDetectionMillis,
    slowAcquireMillis,
    statementTimeoutMillis,
    logger: input.logger as Logger | undefined,
    onConnect: input.onConnect as OnConnect | undefined,
    resetOnRelease,
    nestedAcquire,
    allowExitOnIdle,
    allowedSettings,
    prepare,
    statementCacheSize,
    hostPlan,
    replicas,
    maxReplicaLagMillis,
    resolveCommitOutcome,
    name,
    clientConfig: sealClientConfig(clientConfig),
  });
}
