import { ConfigError } from '../errors.js';
import { type AllowedSettings, isSettingAllowed } from '../pool/allowed-settings.js';
import { checkMillis, describeValue } from '../util/option-checks.js';

/** Isolation levels a transaction may ask for. */
export const ISOLATION_LEVELS = ['read committed', 'repeatable read', 'serializable'] as const;
/** A transaction isolation level, as PostgreSQL spells it. */
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

/** Retry of the callback form on serialization failures, deadlocks and connections lost before COMMIT. */
export interface RetryOptions {
  /** Attempts in all, including the first (>= 1). */
  maxAttempts: number;
  /** First backoff delay; doubles per attempt (capped at `maxDelayMillis`); each delay is random between half and all of that. Default 20. */
  baseDelayMillis?: number;
  /** Cap on one backoff delay. Default 1 000. */
  maxDelayMillis?: number;
}

/** Options of `pool.transaction()` / `conn.transaction()`. */
export interface TransactionOptions {
  /** `BEGIN ISOLATION LEVEL …`; default: the server's (`default_transaction_isolation`, normally read committed). */
  isolation?: IsolationLevel;
  /** `BEGIN … READ ONLY`: writes fail with SQLSTATE 25006. */
  readOnly?: boolean;
  /** Only with `isolation: 'serializable'` and `readOnly: true`. */
  deferrable?: boolean;
  /** Deadline for the whole scope (every attempt): cancel the running query, roll back, reject with `TransactionTimeoutError`. */
  timeoutMillis?: number;
  /** Abort: cancel the running query, roll back, reject with `signal.reason`. */
  signal?: AbortSignal;
  /** Callback form only. Off unless given. */
  retry?: RetryOptions;
  /**
   * Transaction-local settings, set with `set_config(name, value, true)` as bound parameters right after
   * BEGIN (in the same round trip) and gone at COMMIT/ROLLBACK. Any setting the connection's user may set,
   * `role`, `session_authorization` and `search_path` included, unless the pool's `allowedSettings`
   * restricts the names (another name is then a `ConfigError`).
   */
  settings?: Record<string, string>;
  /**
   * Callback form of `pool.transaction()` called inside another scope of the same pool (an ambient scope):
   * `'required'` (default) joins the current transaction; `'nested'` opens a savepoint in it; `'requiresNew'`
   * opens a separate transaction on a second connection (it counts against `max`).
   */
  propagation?: Propagation;
}

/** What `propagation` accepts. */
export const PROPAGATIONS = ['required', 'nested', 'requiresNew'] as const;
/** How a callback `pool.transaction()` inside another scope of the pool relates to it: see `TransactionOptions.propagation`. */
export type Propagation = (typeof PROPAGATIONS)[number];

/** Validated transaction options, frozen. */
export interface TxSettings {
  readonly isolation: IsolationLevel | undefined;
  readonly readOnly: boolean;
  readonly deferrable: boolean;
  readonly timeoutMillis: number | undefined;
  readonly signal: AbortSignal | undefined;
  readonly retry: Readonly<Required<RetryOptions>> | undefined;
  /** Alternating names and values, ready to bind. */
  readonly settingParams: readonly string[];
  /** The BEGIN statement: built only from the allowed lists above. */
  readonly begin: string;
  /** The set_config statement for `settings`, or undefined. */
  readonly settingsSql: string | undefined;
  readonly propagation: Propagation;
}

const OPTION_KEYS = [
  'isolation',
  'readOnly',
  'deferrable',
  'timeoutMillis',
  'signal',
  'retry',
  'settings',
  'propagation',
];
const RETRY_KEYS = ['maxAttempts', 'baseDelayMillis', 'maxDelayMillis'];
/** A PostgreSQL setting name: identifier parts joined by '.'. */
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$/;

function checkKeys(field: string, value: object, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(
        field ? `${field}.${key}` : key,
        `unknown option; allowed: ${allowed.join(', ')}`,
      );
    }
  }
}

function checkBoolean(field: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean')
    throw new ConfigError(field, `expected true or false, got ${describeValue(value)}`);
  return value;
}

const EMPTY: TxSettings = Object.freeze({
  isolation: undefined,
  readOnly: false,
  deferrable: false,
  timeoutMillis: undefined,
  signal: undefined,
  retry: undefined,
  settingParams: Object.freeze([]),
  begin: 'BEGIN',
  settingsSql: undefined,
  propagation: 'required',
});

/**
 * Validates transaction options once, before anything is sent. Throws `ConfigError` naming the field.
 * `form`: the `await using` form has no callback to run again, so `retry` is refused there. `allowed`: the
 * pool's `allowedSettings` (undefined: every setting name).
 */
export function normalizeTxOptions(
  options: TransactionOptions | undefined,
  form: 'callback' | 'using',
  allowed?: AllowedSettings,
): TxSettings {
  if (options === undefined) return EMPTY;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  checkKeys('', options, OPTION_KEYS);
  const o = options as Record<string, unknown>;
  let isolation: IsolationLevel | undefined;
  if (o.isolation !== undefined) {
    if (typeof o.isolation !== 'string' || !(ISOLATION_LEVELS as readonly string[]).includes(o.isolation)) {
      throw new ConfigError(
        'isolation',
        `expected one of ${ISOLATION_LEVELS.map((l) => `'${l}'`).join(', ')}, got ${describeValue(o.isolation)}`,
      );
    }
    isolation = o.isolation as IsolationLevel;
  }
  const readOnly = checkBoolean('readOnly', o.readOnly);
  const deferrable = checkBoolean('deferrable', o.deferrable);
  if (deferrable && !(isolation === 'serializable' && readOnly)) {
    throw new ConfigError('deferrable', "only with isolation: 'serializable' and readOnly: true");
  }
  const timeoutMillis =
    o.timeoutMillis === undefined ? undefined : checkMillis('timeoutMillis', o.timeoutMillis);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new ConfigError('signal', `expected an AbortSignal, got ${describeValue(o.signal)}`);
  }
  const retry = o.retry === undefined ? undefined : normalizeRetry(o.retry, form);
  let propagation: Propagation = 'required';
  if (o.propagation !== undefined) {
    if (typeof o.propagation !== 'string' || !(PROPAGATIONS as readonly string[]).includes(o.propagation)) {
      throw new ConfigError(
        'propagation',
        `expected one of ${PROPAGATIONS.map((p) => `'${p}'`).join(', ')}, got ${describeValue(o.propagation)}`,
      );
    }
    propagation = o.propagation as Propagation;
  }
  const settingParams: string[] = [];
  if (o.settings !== undefined) {
    // A plain object only: the entries of a Map (or of any class instance) would be silently dropped.
    const proto =
      typeof o.settings === 'object' && o.settings !== null ? Object.getPrototypeOf(o.settings) : 0;
    if (proto !== Object.prototype && proto !== null) {
      throw new ConfigError(
        'settings',
        `expected a plain object of strings, got ${o.settings instanceof Map ? 'a Map' : describeValue(o.settings)}`,
      );
    }
    for (const [name, value] of Object.entries(o.settings as Record<string, unknown>)) {
      if (!SETTING_NAME.test(name) || name.length > 63 * 4) {
        throw new ConfigError(
          `settings.${name.slice(0, 40)}`,
          'not a setting name (identifier parts joined by ".")',
        );
      }
      if (typeof value !== 'string') {
        throw new ConfigError(`settings.${name}`, `expected a string value, got ${describeValue(value)}`);
      }
      if (value.includes('\0')) {
        // PostgreSQL text cannot hold NUL: the server would refuse the bound value after BEGIN was sent.
        throw new ConfigError(
          `settings.${name}`,
          `must not contain a NUL character (\\0) (got a string of ${value.length} characters)`,
        );
      }
      if (!isSettingAllowed(allowed, name)) {
        throw new ConfigError(
          `settings.${name}`,
          `not allowed by the pool's allowedSettings; allowed: ${allowed?.entries.map((e) => `'${e}'`).join(', ') || 'none'}`,
        );
      }
      settingParams.push(name, value);
    }
  }
  let begin = 'BEGIN';
  if (isolation) begin += ` ISOLATION LEVEL ${isolation.toUpperCase()}`;
  if (readOnly) begin += ' READ ONLY';
  if (deferrable) begin += ' DEFERRABLE';
  let settingsSql: string | undefined;
  if (settingParams.length > 0) {
    const calls = [];
    for (let i = 0; i < settingParams.length; i += 2) calls.push(`set_config($${i + 1}, $${i + 2}, true)`);
    settingsSql = `SELECT ${calls.join(', ')}`;
  }
  return Object.freeze({
    isolation,
    readOnly,
    deferrable,
    timeoutMillis,
    signal: o.signal as AbortSignal | undefined,
    retry,
    settingParams: Object.freeze(settingParams),
    begin,
    settingsSql,
    propagation,
  });
}

function normalizeRetry(value: unknown, form: 'callback' | 'using'): Readonly<Required<RetryOptions>> {
  if (form === 'using') {
    throw new ConfigError(
      'retry',
      'only the callback form can retry: the await using form has no callback to run again',
    );
  }
  if (typeof value !== 'object' || value === null) {
    throw new ConfigError(
      'retry',
      `expected { maxAttempts, baseDelayMillis?, maxDelayMillis? }, got ${describeValue(value)}`,
    );
  }
  checkKeys('retry', value, RETRY_KEYS);
  const r = value as Record<string, unknown>;
  if (
    typeof r.maxAttempts !== 'number' ||
    !Number.isInteger(r.maxAttempts) ||
    r.maxAttempts < 1 ||
    r.maxAttempts > 100
  ) {
    throw new ConfigError(
      'retry.maxAttempts',
      `expected an integer from 1 to 100, got ${describeValue(r.maxAttempts)}`,
    );
  }
  const baseDelayMillis =
    r.baseDelayMillis === undefined
      ? 20
      : checkMillis('retry.baseDelayMillis', r.baseDelayMillis, { allowZero: true });
  const maxDelayMillis =
    r.maxDelayMillis === undefined
      ? 1_000
      : checkMillis('retry.maxDelayMillis', r.maxDelayMillis, { allowZero: true });
  if (maxDelayMillis < baseDelayMillis) {
    throw new ConfigError(
      'retry.maxDelayMillis',
      `must not be less than retry.baseDelayMillis (${baseDelayMillis})`,
    );
  }
  return Object.freeze({ maxAttempts: r.maxAttempts, baseDelayMillis, maxDelayMillis });
}

/** Options a savepoint scope accepts: none of the transaction-level ones apply to it. */
export function checkSavepointOptions(options: unknown): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  const keys = Object.keys(options);
  if (keys.length > 0) {
    throw new ConfigError(keys[0] ?? 'options', 'a nested transaction is a savepoint and takes no options');
  }
}
