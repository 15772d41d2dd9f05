import type pg from 'pg';
import type { QueryMessage } from '../logging/channels.js';
import { recapture } from './caller-stack.js';
import { canCarryAhead } from './carry-ahead.js';
import { queryWithAhead, type StatementAhead, sendAheadAlone } from './pg-queries.js';
import { startQuery } from './pool-channels.js';
import type { StatementCache } from './statement-cache.js';

/**
 * pg's callback form of `Client#query`, as the lease sends a statement: one promise per statement (the lease's
 * own) instead of pg's two, with errors that still show the caller's stack.
 */

/** `Client#query(config, values, callback)`; `values` may be undefined (pg then sends none). */
type CallbackQuery<R extends pg.QueryResultRow> = (
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  callback: (err: Error | null, result: pg.QueryResult<R>) => void,
) => PromiseLike<pg.QueryResult<R>> | undefined;

/**
 * Sends a statement on `client` in pg's callback form; `done` is called at least once and must ignore a second
 * call. pg's callback form returns nothing; a `query` the caller wrapped that answers with a promise instead (and
 * never calls back) is followed all the same, though a promise resolving with nothing (a wrapper that forwards
 * the callback and returns pg's `undefined`) is left to the callback. A synchronous throw (pg's TypeError for a
 * missing statement, a wrapper's own) reaches `done` too, so nothing stays counted in flight.
 */
export function queryWithCallback<R extends pg.QueryResultRow>(
  client: pg.Client,
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  done: (err: Error | null, result: pg.QueryResult<R>) => void,
): void {
  let sent: PromiseLike<pg.QueryResult<R>> | undefined;
  try {
    sent = (client as unknown as { query: CallbackQuery<R> }).query(config, values, done);
  } catch (err) {
    done((err ?? new Error('query failed')) as Error, undefined as never);
    return;
  }
  if (typeof sent?.then === 'function') {
    sent.then(
      (result) => {
        if (result !== undefined) done(null, result);
      },
      (err: unknown) => done((err ?? new Error('query failed')) as Error, undefined as never),
    );
  }
}

/**
 * Sends a statement as {@link queryWithCallback} does, with the statements `ahead` of it (see
 * `Lease.sendAhead`) in its Sync when it can carry them, else each on its own just before it; with `traced`,
 * published on `pg-scope:query` (see `startQuery`).
 */
export function sendWithAhead<R extends pg.QueryResultRow>(
  client: pg.Client,
  ahead: readonly StatementAhead[] | undefined,
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  done: (err: Error | null, result: pg.QueryResult<R>) => void,
  traced?: QueryMessage,
): void {
  if (traced !== undefined) {
    // Published on `pg-scope:query` around the send; the caller's `done` publishes the answer (endQuery).
    startQuery(traced, () => sendWithAhead(client, ahead, config, values, done));
    return;
  }
  if (ahead !== undefined && canCarryAhead(config, values)) {
    queryWithAhead(client, ahead, config, values, done);
    return;
  }
  sendAheadAlone(client, ahead);
  queryWithCallback(client, config, values, done);
}

/**
 * Settles a callback-form query's promise (`resolve`) with `err`, through `onError` when given. The error's
 * stack is captured again in a promise step that leads to the caller's `await` (V8 follows that chain), as pg's
 * promise form does, so it shows where the caller sent the statement instead of pg's socket reader. The
 * rejection starts only after `resolve` has adopted the chain, or V8 would find no caller to show.
 */
export function rejectFromCaller<R>(
  err: unknown,
  resolve: (value: Promise<R>) => void,
  onError: ((err: unknown) => Promise<R>) | undefined,
): void {
  let start!: (err: unknown) => void;
  const chain = new Promise<R>((_, reject) => {
    start = reject;
  }).catch(recapture);
  resolve(onError === undefined ? chain : chain.catch(onError));
  start(err);
}

/**
 * pg's promise form, for the lease's traced and cached queries. The statements `ahead` go on their own first,
 * or, with the statement cache, in the query's Sync as named statements (see StatementCache#query).
 */
export function sendQuery<R extends pg.QueryResultRow>(
  client: pg.Client,
  statements: StatementCache | undefined,
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  outside: boolean,
  ahead: readonly StatementAhead[] | undefined,
): Promise<pg.QueryResult<R>> {
  if (statements !== undefined) return statements.query<R>(config, values, outside, ahead);
  sendAheadAlone(client, ahead);
  return (values === undefined ? client.query<R>(config) : client.query<R>(config, values)) as Promise<
    pg.QueryResult<R>
  >;
}

/** What {@link afterBegin} needs of the lease. */
interface HeldOn {
  query<R extends pg.QueryResultRow>(
    config: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  failAhead(err: Error): void;
}

/**
 * A query sent on `lease` while a named BEGIN is unanswered (see ClientInfo.beginHold): sent once BEGIN
 * answered, and not at all if BEGIN failed (it would run outside the transaction): it then rejects with
 * BEGIN's error, through `onError` when given, and so do the statements waiting to go ahead of it.
 */
export function afterBegin<R extends pg.QueryResultRow>(
  lease: HeldOn,
  hold: Promise<unknown>,
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  onError: ((err: unknown) => Promise<pg.QueryResult<R>>) | undefined,
): Promise<pg.QueryResult<R>> {
  const sent = hold.then((err) => {
    if (err === undefined) return lease.query<R>(config, values);
    lease.failAhead(err as Error);
    return Promise.reject(err);
  });
  return onError === undefined ? sent : sent.catch(onError);
}
