import { ConfigError } from '../errors.js';
import { checkMillis, describeValue } from '../util/option-checks.js';

/** Options of one acquire. */
export interface AcquireOptions {
  /** Overrides the pool's `acquireTimeoutMillis` for this acquire (0 = fail fast). */
  timeoutMillis?: number;
  /** Aborting stops waiting, leaves the queue and rejects with `signal.reason`. */
  signal?: AbortSignal;
}

const ACQUIRE_OPTION_KEYS = new Set(['timeoutMillis', 'signal']);

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
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ConfigError('signal', `expected an AbortSignal, got ${describeValue(options.signal)}`);
  }
}
