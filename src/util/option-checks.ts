import { ConfigError } from '../errors.js';

/**
 * The checks every options object is validated with: each throws `ConfigError` naming the field and the
 * allowed values, and describes a bad value by its type only (a misplaced string may be a password).
 */

/**
 * Describes a value for an error message by its type, never by its content: a string is described by its
 * length only (`a string of 27 characters`), since a misplaced string may be a connection string or a
 * password.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length === 0) return 'an empty string';
    return value.length === 1 ? 'a string of 1 character' : `a string of ${value.length} characters`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Checks a millisecond option. `allowZero`: 0 is meaningful. `allowInfinity`: `Infinity` means "forever".
 * Throws `ConfigError` naming the field.
 */
export function checkMillis(
  field: string,
  value: unknown,
  { allowZero = false, allowInfinity = false }: { allowZero?: boolean; allowInfinity?: boolean } = {},
): number {
  const expect = `${allowZero ? 'a number >= 0' : 'a number > 0'}${allowInfinity ? ' (or Infinity)' : ''}`;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new ConfigError(field, `expected ${expect}, got ${describeValue(value)}`);
  }
  if (value === Number.POSITIVE_INFINITY) {
    if (allowInfinity) return value;
    throw new ConfigError(field, `expected ${expect}, got Infinity`);
  }
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero)) {
    throw new ConfigError(field, `expected ${expect}, got ${describeValue(value)}`);
  }
  return value;
}

/** Checks a count option: a safe integer >= `minimum` (or Infinity when allowed). Throws `ConfigError`. */
export function checkCount(field: string, value: unknown, minimum: number, allowInfinity = false): number {
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  // Safe integers only: generic-pool reads max and min with parseInt, which turns 1e21 into 1.
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    throw new ConfigError(
      field,
      `expected an integer from ${minimum} to ${Number.MAX_SAFE_INTEGER}${allowInfinity ? ' (or Infinity)' : ''}, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** Checks an option with a closed list of values. Throws `ConfigError` naming the allowed values. */
export function checkOneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(
      field,
      `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

/** Levenshtein distance, bounded: enough to spot a typo in an option name. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[y.length] ?? 0;
}

/** The known option a misspelt key most likely meant, if any. */
export function likelyTypo(key: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(key.length / 4)));
  // The distance ignores case, so 0 is a case slip ('Max'), unless the key is the option itself.
  return best !== key && bestDistance <= limit ? best : undefined;
}
