import diagnostics_channel from 'node:diagnostics_channel';

/**
 * pg-scope's `node:diagnostics_channel` channels: what APM agents and `pg-scope/otel` subscribe to. Every
 * message is a plain object with the fields below; none carries a parameter value, a password or a
 * connection string. `error` is the error the caller gets (for a `DatabaseError` that is pg's own object,
 * whose `message` and `detail` may quote a value the server rejected, as the caller's own error does).
 * Nothing is built or published while a channel has no subscriber.
 */

/** Fields every message has. */
export interface PoolMessage {
  /** The public `Pool` the event belongs to (its `toJSON` shows only its name and counters). */
  readonly pool: object;
  /** The pool's `name` (as in its log lines). */
  readonly poolName: string;
}

/** The server a scope's connection went to (as pg's client resolved it). */
export interface ServerTarget {
  /** Host name, address or socket directory. */
  readonly address: string;
  /** The server's port. */
  readonly port: number;
  /** The database name. */
  readonly database: string | undefined;
}

/** `pg-scope:acquire`: around the wait for a connection, from the call until the lease or the rejection. */
export interface AcquireMessage extends PoolMessage {
  /** The acquire's timeout (the pool's `acquireTimeoutMillis` or the acquire's own `timeoutMillis`). */
  readonly timeoutMillis: number;
  /** Set on success: the acquire scope's id (`scopeId` in log lines). */
  scopeId?: string;
  /** Set on success: the server of the connection lent. */
  server?: ServerTarget;
  /** Set at the end (success or failure): how long the caller waited, in milliseconds. */
  waitMillis?: number;
  /** Set on failure: `PoolExhaustedError`, `ConnectError`, `PoolClosedError`, … or the abort's reason. */
  error?: unknown;
}

/** The outcome of a transaction scope or attempt. */
export type TransactionOutcome = 'committed' | 'rolledBack' | 'failed' | 'unknown';

/**
 * `pg-scope:transaction`: around a whole top-level transaction scope — the callback form including its
 * retries (`asyncEnd`/`error` when the scope settles); the `await using` form from `pool.transaction()` until
 * its commit or rollback ends it. Savepoints (`tx.transaction()`, `propagation: 'nested'`) and joined scopes
 * (`propagation: 'required'` inside a transaction) are part of their transaction, not events of their own:
 * their statements are `pg-scope:query` events that name it (`transaction`), and their failures reach it as
 * the failures of its callback. The callback form runs inside `start.runStores`, so a store bound with
 * `start.bindStore` holds for the whole scope, callback included.
 */
export interface TransactionMessage extends PoolMessage {
  /** `'callback'` or `'using'`. */
  readonly form: 'callback' | 'using';
  /** The `isolation` option; undefined: the server's default. */
  readonly isolation: string | undefined;
  /** The `readOnly` option. */
  readonly readOnly: boolean | undefined;
  /** Attempts made so far (1 without retry). */
  attempts: number;
  /** The latest attempt's transaction id (`txId` in log lines). */
  txId?: string;
  /** The latest attempt's connection (`scopeId` in log lines). */
  scopeId?: string;
  /** The latest attempt's server. */
  server?: ServerTarget;
  /** Set at the end: `'committed'`, `'rolledBack'`, `'failed'` (its ROLLBACK failed), `'unknown'` (a lost COMMIT). */
  outcome?: TransactionOutcome;
  /** Set at the end: the scope's duration in milliseconds. */
  durationMillis?: number;
  /** Set when the scope rejects (callback form) or a statement failed in it (`await using` form). */
  error?: unknown;
  /**
   * A hook a `start` subscriber may set (callback form only; ignored in the `await using` form, which runs
   * nothing inside its `start`): pg-scope then runs the scope — every attempt, the callback and its
   * statements — as `runInScope(message, run)` and takes its result, so the subscriber can run it in a
   * context of its own (`pg-scope/otel` makes the transaction's span the active span this way; a tracer whose
   * `AsyncLocalStorage` is reachable can use `start.bindStore` instead). It must call `run` once, at once,
   * and return what `run` returns. A subscriber that finds one set already should call it from its own.
   */
  runInScope?: <T>(message: TransactionMessage, run: () => Promise<T>) => Promise<T>;
}

/** `pg-scope:transaction:attempt` (a plain channel): one message per attempt of a callback transaction. */
export interface TransactionAttemptMessage extends PoolMessage {
  /** The scope's `pg-scope:transaction` message. */
  readonly transaction: TransactionMessage;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The attempt's transaction id. */
  readonly txId: string;
  /** The attempt's connection. */
  readonly scopeId: string;
  /** How the attempt ended. */
  readonly outcome: TransactionOutcome;
  /** True when another attempt follows. */
  readonly retrying: boolean;
  /** Why the attempt failed (absent when it committed). */
  readonly error?: unknown;
}

/** `pg-scope:query`: around one statement sent on a scope's connection (the library's own BEGIN/COMMIT too). */
export interface QueryMessage extends PoolMessage {
  /** The connection's scope id. */
  readonly scopeId: string;
  /** The server of the connection. */
  readonly server: ServerTarget;
  /** The SQL text (never its `values`). */
  readonly text: string;
  /** How many parameter values were bound (their values are never published). */
  readonly valueCount: number;
  /**
   * The `pg-scope:transaction` message of the top-level transaction the statement is sent in (its BEGIN,
   * COMMIT, savepoint statements and the statements of joined scopes too), in both forms; absent outside a
   * transaction or when the transaction channel had no subscriber as the transaction began.
   */
  readonly transaction: TransactionMessage | undefined;
  /** Set on success: pg's `command` (`'SELECT'`, `'UPDATE'`…). */
  command?: string;
  /** Set on success: pg's `rowCount`. */
  rowCount?: number | null;
  /** Set on failure: pg's error (or the connection's), as the caller gets it. */
  error?: unknown;
}

/** `pg-scope:connect` (plain): a connection attempt ended. */
export interface ConnectMessage extends PoolMessage {
  /** How long the attempt took, in milliseconds (with `onConnect`). */
  readonly connectMillis: number;
  /** False when it failed (`error` then). */
  readonly ok: boolean;
  /** Why it failed. */
  readonly error?: unknown;
}

/** `pg-scope:release` (plain): a scope gave its connection back. */
export interface ReleaseMessage extends PoolMessage {
  /** The scope that gave it back. */
  readonly scopeId: string;
  /** How long the scope held the connection, in milliseconds. */
  readonly heldMillis: number;
}

/** The channel names. */
export const ChannelName = {
  /** TracingChannel: {@link AcquireMessage}. */
  acquire: 'pg-scope:acquire',
  /** TracingChannel: {@link TransactionMessage}. */
  transaction: 'pg-scope:transaction',
  /** Channel: {@link TransactionAttemptMessage}. */
  transactionAttempt: 'pg-scope:transaction:attempt',
  /** TracingChannel: {@link QueryMessage}. */
  query: 'pg-scope:query',
  /** Channel: {@link ConnectMessage}. */
  connect: 'pg-scope:connect',
  /** Channel: {@link ReleaseMessage}. */
  release: 'pg-scope:release',
} as const;

export const acquireChannel = diagnostics_channel.tracingChannel<AcquireMessage>(ChannelName.acquire);
export const transactionChannel = diagnostics_channel.tracingChannel<TransactionMessage>(
  ChannelName.transaction,
);
export const transactionAttemptChannel = diagnostics_channel.channel(ChannelName.transactionAttempt);
export const queryChannel = diagnostics_channel.tracingChannel<QueryMessage>(ChannelName.query);
export const connectChannel = diagnostics_channel.channel(ChannelName.connect);
export const releaseChannel = diagnostics_channel.channel(ChannelName.release);

type Tracing<M extends object> = diagnostics_channel.TracingChannel<M, M>;

/**
 * Publishes `start`/`end` around `run()` and `asyncStart`/`asyncEnd` (after `error` on a rejection) when its
 * promise settles, as `TracingChannel#tracePromise` does — but `done` fills the message from the result, and
 * the result itself (a connection, the caller's value, rows) is never put on the message. Each sub-channel is
 * asked for itself: `run()` goes through `start.runStores` (so a store bound with `start.bindStore` holds
 * while it runs) only when `start` has a subscriber or a store, and while none of `asyncStart`, `asyncEnd`
 * and `error` has one, the promise of `run()` is handed back as it is: no promise of its own, no `done`.
 */
export function traced<M extends { error?: unknown }, R>(
  channel: Tracing<M>,
  message: M,
  run: () => Promise<R>,
  done: ((message: M, result: R | undefined, failed: boolean) => void) | undefined,
): Promise<R> {
  const start = channel.start;
  let promise: Promise<R>;
  try {
    promise = start.hasSubscribers ? start.runStores(message, run) : run();
  } catch (err) {
    message.error = err;
    done?.(message, undefined, true);
    channel.error.publish(message);
    channel.end.publish(message);
    throw err;
  }
  channel.end.publish(message);
  if (!channel.asyncEnd.hasSubscribers && !channel.asyncStart.hasSubscribers && !channel.error.hasSubscribers)
    return promise;
  return promise.then(
    (result) => {
      done?.(message, result, false);
      channel.asyncStart.publish(message);
      channel.asyncEnd.publish(message);
      return result;
    },
    (err: unknown) => {
      message.error = err;
      done?.(message, undefined, true);
      channel.error.publish(message);
      channel.asyncStart.publish(message);
      channel.asyncEnd.publish(message);
      throw err;
    },
  );
}
