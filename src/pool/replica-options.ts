import { ConfigError } from '../errors.js';
import { describeValue, likelyTypo } from '../util/option-checks.js';

/** One entry of `replicas`: where the replica is (a connection string or pg's ClientConfig fields) and its `max`. */
export interface ReplicaConfig extends Omit<import('pg').ClientConfig, 'pipeline'> {
  /** Bound on this replica's open connections. Default: the pool's `max`. */
  max?: number;
}

/** The pool-level keys a replica pool does not take from the primary's configuration. */
const NOT_INHERITED = [
  'replicas',
  'maxReplicaLagMillis',
  'targetSessionAttrs',
  'loadBalanceHosts',
  'connectionString',
  'host',
  'port',
] as const;

/**
 * Checks `replicas` and builds each replica's own pool configuration: the pool's options (timeouts, logger,
 * `onConnect`, resets: "replica pools inherit the pool's timeouts") and its ClientConfig fields other than
 * where to connect (user, password, database, ssl…), overlaid with the entry's fields; `max` from the entry or
 * the pool. Each result goes through `normalize` (the pool's own validation); an error names the entry's field
 * (`replicas[1].max`). Returns undefined when there are no replicas.
 */
export function normalizeReplicas<S>(
  value: unknown,
  input: Readonly<Record<string, unknown>>,
  clientKeys: ReadonlySet<string>,
  normalize: (config: Record<string, unknown>) => S,
): readonly S[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    throw new ConfigError(
      'replicas',
      `expected an array of replica configurations, got ${describeValue(value)}`,
    );
  }
  const entryKeys = new Set([...clientKeys, 'max']);
  const base: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(input)) {
    if (!(NOT_INHERITED as readonly string[]).includes(key)) base[key] = v;
  }
  return Object.freeze(
    value.map((entry: unknown, i) => {
      const field = `replicas[${i}]`;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        const hint = typeof entry === 'string' ? ' (a connection string goes in { connectionString })' : '';
        throw new ConfigError(field, `expected an object, got ${describeValue(entry)}${hint}`);
      }
      const fields = entry as Record<string, unknown>;
      for (const key of Object.keys(fields)) {
        if (entryKeys.has(key)) continue;
        const meant = likelyTypo(key, entryKeys);
        throw new ConfigError(
          `${field}.${key}`,
          meant === undefined
            ? 'a replica takes a connection string or ClientConfig fields, and max'
            : `unknown option; did you mean '${meant}'?`,
        );
      }
      if (fields.connectionString === undefined && fields.host === undefined) {
        throw new ConfigError(field, 'expected a connectionString or a host');
      }
      const max = fields.max ?? input.max;
      const config: Record<string, unknown> = { ...base, ...fields };
      // A smaller max than the primary's `min`: keep the replica's min within its own bound.
      if (typeof max === 'number' && typeof input.min === 'number') config.min = Math.min(input.min, max);
      try {
        return normalize(config);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const message = err.message.replace(/^invalid option [^:]*: /, '');
        throw new ConfigError(`${field}.${err.field}`, message);
      }
    }),
  );
}
