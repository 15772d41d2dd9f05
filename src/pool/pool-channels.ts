import type pg from 'pg';
import {
  acquireChannel,
  connectChannel,
  type QueryMessage,
  queryChannel,
  releaseChannel,
  type ServerTarget,
  type TransactionMessage,
  traced,
} from '../logging/channels.js';
import type { StatementAhead } from './pg-queries.js';

/**
 * What the pool publishes on `node:diagnostics_channel` (see `logging/channels.ts`). Callers check the
 * channel's `hasSubscribers` first, so a pool nobody watches builds no message.
 */

/** What a message needs of a lease (the lease itself imports this file). */
export interface LeaseView {
  /** The scope id. */
  readonly id: string;
  /** `performance.now()` when it was lent. */
  readonly acquiredAt: number;
  /** pg's client, for the server it resolved. */
  readonly rawClient: {
    readonly host: string;
    readonly port: number;
    readonly database?: string | undefined;
  };
  /** The traced top-level transaction running on it, if any. */
  readonly tracedTransaction: TransactionMessage | undefined;
}

/** Who a message is about: the public pool and its name. */
export interface ChannelSource {
  /** The public `Pool` object (set by the layer that makes it). */
  readonly publicPool: object;
  /** The pool's name. */
  readonly name: string;
}

/** One frozen `ServerTarget` per connection, made on its first message. */
const servers = new WeakMap<object, ServerTarget>();

/** The server a lease's connection went to: what pg's client resolved (host, port, database). */
export function serverOf(lease: LeaseView): ServerTarget {
  const client = lease.rawClient;
  let server = servers.get(client);
  if (!server) {
    server = Object.freeze({ address: client.host, port: client.port, database: client.database });
    servers.set(client, server);
  }
  return server;
}

/** Publishes an acquire on `pg-scope:acquire` around `run()`. */
export function traceAcquire<L extends LeaseView>(
  source: ChannelSource,
  timeoutMillis: number,
  run: () => Promise<L>,
): Promise<L> {
  const started = performance.now();
  return traced(
    acquireChannel,
    { pool: source.publicPool, poolName: source.name, timeoutMillis },
    run,
    (message, lease) => {
      message.waitMillis = (lease ? lease.acquiredAt : performance.now()) - started;
      if (!lease) return;
      message.scopeId = lease.id;
      message.server = serverOf(lease);
    },
  );
}

/** The `pg-scope:query` message of a statement sent on `lease`. */
export function queryMessage(
  source: ChannelSource,
  lease: LeaseView,
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
): QueryMessage {
  // A caller's null or undefined config still goes to pg, whose TypeError the caller then gets.
  const text = typeof config === 'string' ? config : String(config?.text);
  const bound = values ?? (typeof config === 'string' ? undefined : config?.values);
  return {
    pool: source.publicPool,
    poolName: source.name,
    scopeId: lease.id,
    server: serverOf(lease),
    text,
    valueCount: Array.isArray(bound) ? bound.length : 0,
    transaction: lease.tracedTransaction,
  };
}

/** Publishes a statement on `pg-scope:query` around `run()`. */
export function traceQuery<R extends pg.QueryResultRow>(
  source: ChannelSource,
  lease: LeaseView,
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  run: () => Promise<pg.QueryResult<R>>,
): Promise<pg.QueryResult<R>> {
  return traced(queryChannel, queryMessage(source, lease, config, values), run, fillQuery);
}

/** Messages whose `send()` is running ({@link startQuery}), with the publishing of an answer given meanwhile. */
const sending = new WeakMap<QueryMessage, (() => void) | null>();

/**
 * Publishes `start` (through `start.runStores`, as `traced` does) and `end` of a statement sent in pg's callback
 * form by `send()`; its answer is published by {@link endQuery}. A `send()` that throws publishes `error` and
 * `end`, and the error goes on to the caller.
 */
export function startQuery(message: QueryMessage, send: () => void): void {
  const start = queryChannel.start;
  sending.set(message, null);
  try {
    if (start.hasSubscribers) start.runStores(message, send);
    else send();
  } catch (err) {
    sending.delete(message);
    message.error = err;
    queryChannel.error.publish(message);
    queryChannel.end.publish(message);
    throw err;
  }
  const early = sending.get(message);
  sending.delete(message);
  queryChannel.end.publish(message);
  early?.();
}

/**
 * Publishes the answer of a statement {@link startQuery} sent, once: `command` and `rowCount`, or `error` (and
 * the `error` event), then `asyncStart` and `asyncEnd`. An answer given while `send()` still ran (a caller's
 * wrapper of pg's `client.query` that failed the query and returned) is published right after `end`.
 */
export function endQuery(
  message: QueryMessage,
  err: unknown,
  command: string | undefined,
  rowCount: number | null | undefined,
): void {
  if (sending.has(message)) {
    sending.set(message, () => endQuery(message, err, command, rowCount));
    return;
  }
  if (err !== null && err !== undefined) {
    message.error = err;
    queryChannel.error.publish(message);
  } else {
    message.command = command;
    message.rowCount = rowCount;
  }
  queryChannel.asyncStart.publish(message);
  queryChannel.asyncEnd.publish(message);
}

/**
 * `statement` (one of the pool's own, written ahead of the next statement: BEGIN, the transaction-id statement)
 * published on `pg-scope:query` as if sent on its own: started now, answered when it is. BEGIN answers with no
 * rows, the id statement with one.
 */
export function tracedAhead(
  source: ChannelSource,
  lease: LeaseView,
  statement: StatementAhead,
): StatementAhead {
  const message = queryMessage(source, lease, statement.text, undefined);
  const command = /^\s*([A-Za-z]+)/.exec(statement.text)?.[1]?.toUpperCase();
  const rowCount = command === 'SELECT' ? 1 : null;
  const traced: StatementAhead = {
    text: statement.text,
    get mayName() {
      return statement.mayName;
    },
    carried: (named) => statement.carried?.(named),
    done: (err, value) => {
      endQuery(message, err, command, rowCount);
      statement.done(err, value);
    },
  };
  startQuery(message, noop);
  return traced;
}

function noop(): void {}

/** A statement's end fields, from its result (one function for every message: no closure per statement). */
function fillQuery(message: QueryMessage, result: pg.QueryResult | undefined): void {
  if (!result) return;
  message.command = result.command;
  message.rowCount = result.rowCount;
}

/** Publishes a returned lease on `pg-scope:release`. */
export function publishRelease(source: ChannelSource, lease: LeaseView): void {
  releaseChannel.publish({
    pool: source.publicPool,
    poolName: source.name,
    scopeId: lease.id,
    heldMillis: performance.now() - lease.acquiredAt,
  });
}

/** Publishes a finished connection attempt on `pg-scope:connect`. */
export function publishConnect(source: ChannelSource, started: number, error?: unknown): void {
  connectChannel.publish({
    pool: source.publicPool,
    poolName: source.name,
    connectMillis: performance.now() - started,
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
  });
}
