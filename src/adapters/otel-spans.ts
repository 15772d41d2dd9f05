import diagnostics_channel from 'node:diagnostics_channel';
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  type SpanOptions,
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
import { MessageSlot } from './message-slots.js';
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

/** What a transaction span keeps on its channel message. */
interface TxSpan {
  readonly span: Span;
  /** The caller's context with the span set: the scope runs in it, and its query spans start under it. */
  readonly context: Context;
}

/** The transaction spans on the transaction messages, and the query spans on the query messages. */
const txSpans = new MessageSlot<TxSpan>();
const querySpanSlot = new MessageSlot<Span>();

/**
 * One CLIENT span per top-level transaction scope of `pool` (child of the span active where the scope
 * started), with an event per failed attempt; in the callback form the span is the active span while the
 * scope runs (through the message's `runInScope` hook), so spans the callback starts are its children. With
 * `querySpans`, one span per statement too (child of its transaction's span, in both forms; else of the active
 * span). Returns what stops it.
 */
export function recordPoolSpans(pool: Pool, tracer: Tracer, querySpans: boolean): () => void {
  const base: Attributes = { 'db.system.name': 'postgresql', [POOL_NAME]: pool.name };
  /** This instrumentation, as the owner of what it keeps on the messages. */
  const owner = {};
  /**
   * The span options of each form × isolation × readOnly, made once (a handful: a scan, no key string); the
   * SDK copies the attributes it is given, so one object serves every span of a kind.
   */
  type Kind = Pick<TransactionMessage, 'form' | 'isolation' | 'readOnly'>;
  const startOptions: { kind: Kind; options: SpanOptions }[] = [];
  const optionsFor = (m: TransactionMessage): SpanOptions => {
    for (const known of startOptions) {
      const k = known.kind;
      if (k.form === m.form && k.isolation === m.isolation && k.readOnly === m.readOnly) return known.options;
    }
    const attributes: Attributes = { ...base, 'pg_scope.transaction.form': m.form };
    if (m.isolation !== undefined) attributes['pg_scope.transaction.isolation'] = m.isolation;
    if (m.readOnly !== undefined) attributes['pg_scope.transaction.read_only'] = m.readOnly;
    const options: SpanOptions = { kind: SpanKind.CLIENT, attributes };
    startOptions.push({ kind: { form: m.form, isolation: m.isolation, readOnly: m.readOnly }, options });
    return options;
  };

  /** The `runInScope` hook: the scope runs with its span active. Made once, shared by every message. */
  const runInSpan = <T>(m: TransactionMessage, run: () => Promise<T>): Promise<T> => {
    const held = txSpans.get(m, owner);
    return held === undefined ? run() : context.with(held.context, run);
  };

  const tx = diagnostics_channel.tracingChannel<unknown, TransactionMessage>(ChannelName.transaction);
  const onTxStart = (message: unknown): void => {
    const m = message as TransactionMessage;
    if (m.pool !== pool || txSpans.get(m, owner) !== undefined) return;
    const active = context.active();
    const span = tracer.startSpan(TRANSACTION_SPAN_NAME, optionsFor(m), active);
    txSpans.set(m, owner, { span, context: trace.setSpan(active, span) });
    if (m.form !== 'callback') return;
    const previous = m.runInScope;
    m.runInScope =
      previous === undefined ? runInSpan : (msg, run) => previous(msg, () => runInSpan(msg, run));
  };
  const onTxEnd = (message: unknown): void => {
    const m = message as TransactionMessage;
    const held = txSpans.take(m, owner);
    if (held === undefined) return;
    const span = held.span;
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
    const held = txSpans.get(m.transaction, owner);
    if (held === undefined) return;
    held.span.addEvent('pg_scope.transaction.attempt', {
      'pg_scope.transaction.attempt': m.attempt,
      'pg_scope.transaction.outcome': m.outcome,
      'pg_scope.transaction.retrying': m.retrying,
      'error.type': errorType(m.error),
    });
  };

  const query = diagnostics_channel.tracingChannel(ChannelName.query);
  const onQueryStart = (message: unknown): void => {
    const m = message as QueryMessage;
    if (m.pool !== pool) return;
    // The transaction's span, also in the `await using` form, whose statements run in the caller's context.
    const inTx = m.transaction === undefined ? undefined : txSpans.get(m.transaction, owner);
    const parent = inTx?.context ?? context.active();
    const operation = /^\s*([A-Za-z]+)/.exec(m.text)?.[1]?.toUpperCase();
    const attributes: Attributes = { ...base, ...serverAttributes(m.server) };
    if (operation) attributes['db.operation.name'] = operation;
    // Only a parameterized statement's text: literals in any other text may be values.
    if (m.valueCount > 0) attributes['db.query.text'] = m.text;
    querySpanSlot.set(
      m,
      owner,
      tracer.startSpan(operation ?? 'postgresql', { kind: SpanKind.CLIENT, attributes }, parent),
    );
  };
  const onQueryEnd = (message: unknown): void => {
    const m = message as QueryMessage;
    const span = querySpanSlot.take(m, owner);
    if (span === undefined) return;
    if (m.error !== undefined) fail(span, m.error);
    else if (typeof m.rowCount === 'number') span.setAttribute('db.response.returned_rows', m.rowCount);
    span.end();
  };

  tx.start.subscribe(onTxStart);
  tx.asyncEnd.subscribe(onTxEnd);
  attempts.subscribe(onAttempt);
  if (querySpans) {
    query.start.subscribe(onQueryStart);
    query.asyncEnd.subscribe(onQueryEnd);
  }
  return () => {
    tx.start.unsubscribe(onTxStart);
    tx.asyncEnd.unsubscribe(onTxEnd);
    attempts.unsubscribe(onAttempt);
    if (querySpans) {
      query.start.unsubscribe(onQueryStart);
      query.asyncEnd.unsubscribe(onQueryEnd);
    }
  };
}
