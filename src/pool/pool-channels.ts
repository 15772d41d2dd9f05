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

/** Publishes a statement on `pg-scope:query` around `run()`. */
export function traceQuery<R extends pg.QueryResultRow>(
  source: ChannelSource,
  lease: LeaseView,
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  run: () => Promise<pg.QueryResult<R>>,
): Promise<pg.QueryResult<R>> {
  const text = typeof config === 'string' ? config : String(config.text);
  const bound = values ?? (typeof config === 'string' ? undefined : config.values);
  const message: QueryMessage = {
    pool: source.publicPool,
    poolName: source.name,
    scopeId: lease.id,
    server: serverOf(lease),
    text,
    valueCount: Array.isArray(bound) ? bound.length : 0,
    transaction: lease.tracedTransaction,
  };
  return traced(queryChannel, message, run, fillQuery);
}

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
