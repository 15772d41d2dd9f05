import { ConfigError } from '../errors.js';

/** A PostgreSQL setting name: identifier parts joined by '.'. */
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$/;
/** A prefix of setting names: identifier parts, each followed by '.' (`app.`, `app.tenant.`). */
const SETTING_PREFIX = /^([A-Za-z_][A-Za-z0-9_$]*\.)+$/;

const EXPECTED =
  "expected an array of setting names ('statement_timeout') and prefixes ending in '.' ('app.')";

/**
 * The pool's `allowedSettings`, checked: the setting names a transaction's `settings` may set. Exact names
 * and prefixes, lower-cased (PostgreSQL compares setting names case-insensitively). Frozen.
 */
export interface AllowedSettings {
  /** The entries as given, for error messages. */
  readonly entries: readonly string[];
  /** Exact names, lower-cased. */
  readonly names: ReadonlySet<string>;
  /** Prefixes ending in '.', lower-cased. */
  readonly prefixes: readonly string[];
}

/**
 * Checks the pool's `allowedSettings` option: undefined (every name allowed) or an array of setting names and
 * prefixes ending in '.'; `[]` allows none. Throws `ConfigError` naming `allowedSettings` or the bad entry.
 */
export function normalizeAllowedSettings(value: unknown): AllowedSettings | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    throw new ConfigError('allowedSettings', `${EXPECTED}, got ${describeKind(value)}`);
  }
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const [i, entry] of value.entries()) {
    const field = `allowedSettings[${i}]`;
    if (typeof entry !== 'string' || entry.length > 63 * 4) {
      throw new ConfigError(field, `${EXPECTED}, got ${describeKind(entry)}`);
    }
    if (SETTING_PREFIX.test(entry)) prefixes.push(entry.toLowerCase());
    else if (SETTING_NAME.test(entry)) names.add(entry.toLowerCase());
    else throw new ConfigError(field, `${EXPECTED}, got ${describeKind(entry)}`);
  }
  return Object.freeze({
    entries: Object.freeze([...(value as string[])]),
    names,
    prefixes: Object.freeze(prefixes),
  });
}

/** Whether `allowed` (the pool's `allowedSettings`; undefined: no restriction) lets `name` be set. */
export function isSettingAllowed(allowed: AllowedSettings | undefined, name: string): boolean {
  if (allowed === undefined) return true;
  const lower = name.toLowerCase();
  return allowed.names.has(lower) || allowed.prefixes.some((prefix) => lower.startsWith(prefix));
}

/** Describes a bad entry by its type (a string by its length only, as every ConfigError does). */
function describeKind(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
