import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics_channel from 'node:diagnostics_channel';
import {
  type Attributes,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import {
  ChannelName,
  PgScopeError,
  type Pool,
  type QueryMessage,
  type ServerTarget,
  type TransactionAttemptMessage,
  type TransactionMessage,
} from '../index.js';
import { POOL_NAME } from './otel-metrics.js';

/** The name of every transaction span (low cardinality: the pool and database are attributes). */
export const TRANSACTION_SPAN_NAME = 'pg-scope transaction';

/** What `error.type` says about a failure: the SQLSTATE, pg-scope's or the system's error code, or the class name. */
export function errorType(err: unknown): string {
  if (err instanceof PgScopeError) return err.code;
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    // A SQLSTATE, or a system error's code (ECONNRESET): low cardinality, never a value.
    if (typeof code === 'string' && /^[0-9A-Z_]{2,40}$/.test(code)) return code;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string' && name) return name;
  }
  return '_OTHER';
}

/** The attributes of each server, made once (the pool hands out one `ServerTarget` per connection). */
const serverAttributeCache = new WeakMap<ServerTarget, Attributes>();

function serverAttributes(server: ServerTarget | undefined): Attributes {
  if (!server) return {};
  let attributes = serverAttributeCache.get(server);
  if (!attributes) {
    attributes = {
      ...(server.database === undefined ? {} : { 'db.namespace': server.database }),
      'server.address': server.address,
      'server.port': server.port,
    };
    serverAttributeCache.set(server, attributes);
  }
  return attributes;
}

/** Marks a span failed: status ERROR and `error.type`; never the message, which may quote a value. */
function fail(span: Span, err: unknown): void {
  const type = errorType(err);
  span.setAttribute('error.type', type);
  if (/^[0-9A-Z]{5}$/.test(type)) span.setAttribute('db.response.status_code', type);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/**
 * One CLIENT span per top-level transaction scope of `pool` (child of the span active where the scope
 * started), with an event per failed attempt; with `querySpans`, one span per statement too (child of its
 * transaction's span, else of the active span). Returns what stops it.
 */
export function recordPoolSpans(pool: Pool, tracer: Tracer, querySpans: boolean): () => void {
  const base: Attributes = { 'db.system.name': 'postgresql', [POOL_NAME]: pool.name };
  const txSpans = new WeakMap<TransactionMessage, Span>();
  /**
   * The transaction span of the callback scope the current async context runs in: bound to the channel's
   * `start`, so pg-scope runs the whole scope with it set, and the scope's query spans find their parent.
   */
  const inTransaction = new AsyncLocalStorage<Span | undefined>();

  const tx = diagnostics_channel.tracingChannel<Span | undefined, TransactionMessage>(
    ChannelName.transaction,
  );
  const startTx = (m: TransactionMessage): Span | undefined => {
    if (m.pool !== pool) return inTransaction.getStore();
    const known = txSpans.get(m);
    if (known) return known;
    const attributes: Attributes = { ...base, 'pg_scope.transaction.form': m.form };
    if (m.isolation !== undefined) attributes['pg_scope.transaction.isolation'] = m.isolation;
    if (m.readOnly !== undefined) attributes['pg_scope.transaction.read_only'] = m.readOnly;
    const span = tracer.startSpan(
      TRANSACTION_SPAN_NAME,
      { kind: SpanKind.CLIENT, attributes },
      context.active(),
    );
    txSpans.set(m, span);
    return span;
  };
  // The `await using` form publishes `start` without running anything inside it: the subscriber makes its span.
  const onTxStart = (message: unknown): void => {
    startTx(message as TransactionMessage);
  };
  const onTxEnd = (message: unknown): void => {
    const m = message as TransactionMessage;
    const span = txSpans.get(m);
    if (!span) return;
    txSpans.delete(m);
    span.setAttributes(serverAttributes(m.server));
    span.setAttribute('pg_scope.transaction.attempts', m.attempts);
    span.setAttribute('pg_scope.transaction.outcome', m.outcome ?? 'rolledBack');
    if (m.error !== undefined) fail(span, m.error);
    span.end();
  };
  const attempts = diagnostics_channel.channel(ChannelName.transactionAttempt);
  const onAttempt = (message: unknown): void => {
    const m = message as TransactionAttemptMessage;
    // The attempt that ended the scope is the span's own outcome: only the failed ones before it are events.
    if (m.error === undefined) return;
    const span = txSpans.get(m.transaction);
    if (!span) return;
    span.addEvent('pg_scope.transaction.attempt', {
      'pg_scope.transaction.attempt': m.attempt,
      'pg_scope.transaction.outcome': m.outcome,
      'pg_scope.transaction.retrying': m.retrying,
      'error.type': errorType(m.error),
    });
  };

  const query = diagnostics_channel.tracingChannel(ChannelName.query);
  const querySpansOf = new WeakMap<QueryMessage, Span>();
  const onQueryStart = (message: unknown): void => {
    const m = message as QueryMessage;
    if (m.pool !== pool) return;
    const txSpan = inTransaction.getStore();
    const parent = txSpan ? trace.setSpan(context.active(), txSpan) : context.active();
    const operation = /^\s*([A-Za-z]+)/.exec(m.text)?.[1]?.toUpperCase();
    const attributes: Attributes = { ...base, ...serverAttributes(m.server) };
    if (operation) attributes['db.operation.name'] = operation;
    // Only a parameterized statement's text: literals in any other text may be values.
    if (m.valueCount > 0) attributes['db.query.text'] = m.text;
    querySpansOf.set(
      m,
      tracer.startSpan(operation ?? 'postgresql', { kind: SpanKind.CLIENT, attributes }, parent),
    );
  };
  const onQueryEnd = (message: unknown): void => {
    const m = message as QueryMessage;
    const span = querySpansOf.get(m);
    if (!span) return;
    querySpansOf.delete(m);
    if (m.error !== undefined) fail(span, m.error);
    else if (typeof m.rowCount === 'number') span.setAttribute('db.response.returned_rows', m.rowCount);
    span.end();
  };

  tx.start.subscribe(onTxStart);
  tx.asyncEnd.subscribe(onTxEnd);
  attempts.subscribe(onAttempt);
  if (querySpans) {
    // Only query spans need the transaction's span in the scope's async context (a store costs a context switch).
    tx.start.bindStore(inTransaction, startTx);
    query.start.subscribe(onQueryStart);
    query.asyncEnd.subscribe(onQueryEnd);
  }
  return () => {
    tx.start.unsubscribe(onTxStart);
    tx.asyncEnd.unsubscribe(onTxEnd);
    attempts.unsubscribe(onAttempt);
    if (querySpans) {
      tx.start.unbindStore(inTransaction);
      query.start.unsubscribe(onQueryStart);
      query.asyncEnd.unsubscribe(onQueryEnd);
    }
  };
}
