import { ConfigError } from '../errors.js';
import { checkMillis, describeValue } from '../util/option-checks.js';

/** Options of one acquire. */
export interface AcquireOptions {
  /** Overrides the pool's `acquireTimeoutMillis` for this acquire (0 = fail fast). */
  timeoutMillis?: number;
  /** Aborting stops waiting, leaves the queue and rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * `true`: the caller only reads, so with `replicas` the connection may come from a healthy replica (see
   * docs/replicas.md). Without replicas it changes nothing: the session is not made read-only.
   */
  readOnly?: boolean;
}

const ACQUIRE_OPTION_KEYS = new Set(['timeoutMillis', 'signal', 'readOnly']);

/** Validates the options of one acquire; throws `ConfigError` naming the field. */
export function checkAcquireOptions(options: AcquireOptions | undefined): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!ACQUIRE_OPTION_KEYS.has(key)) {
      throw new ConfigError(key, `unknown acquire option; allowed: ${[...ACQUIRE_OPTION_KEYS].join(', ')}`);
    }
  }
  if (options.timeoutMillis !== undefined) {
    checkMillis('timeoutMillis', options.timeoutMillis, { allowZero: true, allowInfinity: true });
  }
  if (options.readOnly !== undefined && typeof options.readOnly !== 'boolean') {
    throw new ConfigError('readOnly', `expected true or false, got ${describeValue(options.readOnly)}`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ConfigError('signal', `expected an AbortSignal, got ${describeValue(options.signal)}`);
  }
}
