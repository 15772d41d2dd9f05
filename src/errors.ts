/**
 * Every error pg-scope makes extends {@link PgScopeError} and carries a stable string `code`, so callers
 * never match on message text. Errors that come from the server are pg's own `DatabaseError` objects and
 * pass through unchanged.
 */
import { type InspectOptions, inspect } from 'node:util';
import { credentialRedactor, redactCredentials } from './logging/redact.js';
import { isErrorObject } from './logging/thrown-value.js';
import type { LongestBorrow, PoolStats } from './stats.js';

/** `1234` → `'1.2 s'`, `420` → `'420 ms'`. */
function formatMillis(millis: number): string {
  return millis >= 1_000 ? `${(millis / 1_000).toFixed(1)} s` : `${Math.round(millis)} ms`;
}

/** The stable codes of the errors pg-scope makes. */
export type PgScopeErrorCode =
  | 'INVALID_CONFIG'
  | 'POOL_EXHAUSTED'
  | 'POOL_CLOSED'
  | 'CONNECT_FAILED'
  | 'SCOPE_CLOSED'
  | 'TX_ROLLED_BACK'
  | 'COMMIT_UNKNOWN'
  | 'TX_TIMEOUT'
  | 'NESTED_ACQUIRE'
  | 'SAVEPOINT_OPEN'
  | 'UNSUPPORTED_STATEMENT';

/**
 * Base class of every error pg-scope makes. Its message never holds a URL password, and its serialisations
 * (`JSON.stringify`, `util.inspect`) show its own fields and a redacted summary of its `cause` (type, message,
 * SQLSTATE and server fields, text cut to 8 KB), never the cause's other properties: a cause such as Node's
 * `ERR_INVALID_URL` carries the whole connection string in `input`.
 */
export abstract class PgScopeError extends Error {
  /** A stable code; test this, not the message. */
  abstract readonly code: PgScopeErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    // `cut`: a message may end in a value cut short (a field name is sliced to 40 characters).
    super(redactCredentials(message, true), options);
    this.name = new.target.name;
  }

  /** `JSON.stringify`: name, code, message, the class's own fields, and the cause as a redacted summary. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const [key, value] of Object.entries(this)) {
      if (!(key in out)) out[key] = isErrorObject(value) ? credentialRedactor.error(value) : value;
    }
    if (this.cause !== undefined) out.cause = credentialRedactor.error(this.cause);
    return out;
  }

  /** `util.inspect`: the stack, then what {@link toJSON} shows besides name and message. */
  [inspect.custom](_depth = 0, options: InspectOptions = {}, show: typeof inspect = inspect): string {
    const { name: _name, message: _message, ...fields } = this.toJSON();
    return `${credentialRedactor.text(this.stack ?? `${this.name}: ${this.message}`)} ${show(fields, options)}`;
  }
}

/** Bad pool, acquire or transaction options. `field` names the offending option. */
export class ConfigError extends PgScopeError {
  readonly code = 'INVALID_CONFIG';
  /** The option at fault, e.g. `max` or `retry.maxAttempts`. */
  readonly field: string;

  constructor(field: string, message: string) {
    // A field may be a caller's key cut short (a setting name): redact it on its own, before the message
    // around it could make a cut-off URL password look terminated.
    super(`invalid option ${redactCredentials(field, true)}: ${message}`);
    this.field = redactCredentials(field, true);
  }
}

/** Why an acquire found no connection. */
export type PoolExhaustedReason = 'no-wait' | 'timeout' | 'queue-full';

/**
 * No connection could be had: every connection is borrowed and the caller could not, or would not, wait.
 * `cause` is the last connection failure when the pool could not open connections while the caller waited.
 */
export class PoolExhaustedError extends PgScopeError {
  readonly code = 'POOL_EXHAUSTED';
  /**
   * Why: `'no-wait'` (a zero acquire timeout and every connection borrowed), `'timeout'` (the caller waited
   * its whole timeout) or `'queue-full'` (`maxWaiting` callers already wait). See docs/pool-and-exhaustion.md.
   */
  readonly reason: PoolExhaustedReason;
  /** The pool's counters when the acquire failed. */
  readonly stats: PoolStats;
  /** How long the caller waited before this error, in milliseconds (0 for `'no-wait'` and `'queue-full'`). */
  readonly waitedMillis: number;
  /** The scope that has held its connection longest (`stats.longestBorrowMillis`), when one is borrowed. */
  readonly longestBorrowScopeId?: string;
  /** Where that scope acquired its connection: set only when `leakDetectionMillis` > 0. */
  readonly longestBorrowStack?: string;

  constructor(
    reason: PoolExhaustedReason,
    stats: PoolStats,
    waitedMillis: number,
    cause?: unknown,
    longest?: LongestBorrow,
    server?: string,
  ) {
    const waited = Math.round(waitedMillis);
    const why =
      reason === 'queue-full'
        ? `, wait queue full (maxWaiting ${stats.waiting})`
        : reason === 'no-wait'
          ? ', acquireTimeoutMillis is 0 (fail fast)'
          : '';
    const held =
      stats.borrowed > 0 && stats.longestBorrowMillis !== undefined
        ? `; the longest borrow has lasted ${formatMillis(stats.longestBorrowMillis)}${longest ? ` (scope ${longest.scopeId})` : ''}`
        : '';
    // A timeout with room left: the caller waited for a connection still being opened (a slow server).
    const opening = stats.size - stats.idle - stats.borrowed;
    const slow =
      reason === 'timeout' && opening > 0 && stats.borrowed < stats.max
        ? `; ${opening} connection${opening === 1 ? ' was' : 's were'} still being opened (the server is slower to accept a session than the acquire timeout)`
        : '';
    super(
      `pool exhausted${server === undefined ? '' : ` (replica ${server})`}: ${stats.borrowed}/${stats.max} connections in use, ${stats.waiting} waiting, waited ${waited} ms${why}${held}${slow}`,
      cause === undefined ? undefined : { cause },
    );
    this.reason = reason;
    this.stats = stats;
    this.waitedMillis = waitedMillis;
    if (longest) this.longestBorrowScopeId = longest.scopeId;
    if (longest?.stack !== undefined) this.longestBorrowStack = longest.stack;
  }
}

/** The pool is closed (or closing): no new scope can start, and waiting acquirers are turned away. */
export class PoolClosedError extends PgScopeError {
  readonly code = 'POOL_CLOSED';
  constructor(message = 'pool is closed') {
    super(message);
  }
}

/**
 * A server connection could not be opened: at once for failures no retry can fix (authentication, missing
 * database, TLS configuration), or at the acquire's deadline after paced retries. `cause` is the last failure.
 */
export class ConnectError extends PgScopeError {
  readonly code = 'CONNECT_FAILED';
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/** A connection or transaction handle was used after its scope ended. Nothing was sent to the server. */
export class ScopeClosedError extends PgScopeError {
  readonly code = 'SCOPE_CLOSED';
}

/**
 * The transaction was rolled back instead of committed, because an earlier statement failed (and the callback
 * swallowed that error), or because a scope that joined it (propagation `'required'`) threw. `cause` is the
 * first failed statement's error, or what the joined scope threw.
 */
export class TransactionRolledBackError extends PgScopeError {
  readonly code = 'TX_ROLLED_BACK';
  /** `joined`: the rollback was forced by a joined scope that threw, not by a failed statement. */
  constructor(cause: unknown, joined = false) {
    super(
      joined
        ? 'transaction was rolled back: a scope that joined it threw, so it could only roll back'
        : 'transaction was rolled back: an earlier statement failed, so COMMIT rolled back',
      { cause },
    );
  }
}

/**
 * The connection was lost while COMMIT was in flight and the outcome could not be learned from the server (no
 * transaction id known, still in progress at the bound, server unreachable, or `resolveCommitOutcome: false`):
 * the transaction may or may not have committed. Never retried automatically. `cause` is the connection
 * error; `xid` the transaction's id when it was known, so the application can ask later
 * (`select pg_xact_status($1::xid8)`).
 */
export class CommitUnknownError extends PgScopeError {
  readonly code = 'COMMIT_UNKNOWN';
  /** The transaction's id (a 64-bit `xid8` as a decimal string) when it was known, else undefined. */
  readonly xid: string | undefined;
  constructor(cause: unknown, xid?: string) {
    super(
      xid === undefined
        ? 'connection lost while COMMIT was in flight: the outcome of the transaction is unknown'
        : `connection lost while COMMIT was in flight: the outcome of transaction ${xid} is unknown`,
      { cause },
    );
    this.xid = xid;
  }
}

/** The transaction's `timeoutMillis` deadline passed: the running query was cancelled and the work rolled back. */
export class TransactionTimeoutError extends PgScopeError {
  readonly code = 'TX_TIMEOUT';
  /** The deadline that passed (the transaction's `timeoutMillis`). */
  readonly timeoutMillis: number;
  constructor(timeoutMillis: number) {
    super(`transaction timed out after ${timeoutMillis} ms and was rolled back`);
    this.timeoutMillis = timeoutMillis;
  }
}

/**
 * An acquire was made from inside a scope of the same pool, in the same async context, with
 * `nestedAcquire: 'error'`. Such an acquire can deadlock a full pool: every holder waits for a second
 * connection that only another holder could give back.
 */
export class NestedAcquireError extends PgScopeError {
  readonly code = 'NESTED_ACQUIRE';
  constructor() {
    super(
      'nested acquire: this code already holds a connection of the same pool; acquiring a second one can ' +
        'deadlock a full pool (use the connection or transaction you hold, or set nestedAcquire)',
    );
  }
}

/**
 * A transaction or savepoint was used while a savepoint opened inside it is still open. PostgreSQL keeps a
 * transaction's savepoints as one stack, so work done there would belong to the inner savepoint (and be undone
 * with it), and a second savepoint would be nested inside the first, not beside it. End the inner savepoint
 * first (commit or roll back). Nothing was sent to the server, and nothing changed.
 */
export class SavepointOpenError extends PgScopeError {
  readonly code = 'SAVEPOINT_OPEN';
  /** The id (`txId`) of the open savepoint that is in the way. */
  readonly savepointId: string;
  constructor(what: string, savepointId: string) {
    super(
      `cannot ${what}: savepoint ${savepointId} is still open inside this transaction; commit or roll back it first`,
    );
    this.savepointId = savepointId;
  }
}

/**
 * A statement sent through the `pgPool()` view inside a pg-scope transaction was refused before anything
 * was sent: transaction control the view cannot map onto a savepoint (`BEGIN; INSERT …`, `BEGIN ISOLATION
 * LEVEL …`, a `COMMIT` with no `BEGIN` of its own). Running it as written would commit, or silently skip,
 * work of the enclosing transaction.
 */
export class UnsupportedStatementError extends PgScopeError {
  readonly code = 'UNSUPPORTED_STATEMENT';
}
