import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { checkCount, checkMillis, checkOneOf, describeValue, likelyTypo } from '../util/option-checks.js';
import { MAX_TIMER_MILLIS } from '../util/timers.js';
import { normalizeAllowedSettings } from './allowed-settings.js';
import { checkClientStrings, sealClientConfig } from './client-options.js';
import { parseHostPlan } from './hosts.js';
import {
  NESTED_ACQUIRE_MODES,
  type OnConnect,
  type PoolConfig,
  type PoolSettings,
  RESET_MODES,
} from './pool-config.js';
import { normalizeReplicas } from './replica-options.js';

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
