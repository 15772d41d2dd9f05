import pg from 'pg';
import { nameFree } from './pg-statements.js';

/**
 * pg's `Query`, subclassed where pg-scope sends a statement without pg's `Result`, or writes statements ahead
 * of another in its Sync: both replace the handlers pg calls on the query it runs (its Submittable interface:
 * `submit`, `handleDataRow`, `handleCommandComplete`, `handleError`, `handleReadyForQuery`), kept in this one
 * file. Subclasses of pg's own `Query` because pg refuses other query objects in pipeline mode.
 * pg-client-internals.test.ts checks that pg still has these handlers; integration-tests/pg-first-value.test.ts
 * and integration-tests/statements-ahead.test.ts fail if pg stops calling them as these classes expect.
 */

/** What pg hands a query's handlers for a DataRow (pg-protocol's DataRowMessage): the row's fields as text. */
interface DataRowMessage {
  readonly fields: readonly (string | null)[];
}

/**
 * A statement that answers one value, read without pg's `Result`: pg's own `Query`, whose handlers for the
 * row description, the row and the command tag (the methods pg calls on the query it runs, as on any
 * Submittable) keep only the first field of the first row, as the server's text. A subclass of pg's `Query`
 * because pg refuses other query objects in pipeline mode.
 */
class FirstValueQuery extends pg.Query {
  #value: string | null = null;
  #rows = 0;

  handleRowDescription(): void {
    // The value is read as the server's text: no parsers to look up.
  }

  handleDataRow(msg: DataRowMessage): void {
    if (this.#rows++ === 0) this.#value = msg.fields[0] ?? null;
  }

  handleCommandComplete(): void {
    // The command tag is not needed.
  }

  /** pg calls it once the statement is done; `callback` is pg's (it wraps it for `query_timeout`). */
  handleReadyForQuery(): void {
    const callback = (this as { callback?: (err: Error | null, value: string | null) => void }).callback;
    callback?.(null, this.#value);
  }
}

/**
 * Sends `text`, a statement with no parameters, on `client`, and calls `done` with the first column of its first
 * row as text (null when SQL NULL or no row), or with the error pg fails the query with. No promise, no
 * `Result`, no row object: the transaction-id statement of every writing transaction goes this way.
 * pg-client-internals.test.ts and integration-tests/pg-first-value.test.ts fail if pg changes the handlers.
 */
export function queryFirstValue(
  client: pg.Client,
  text: string,
  done: (err: Error | null, value: string | null) => void,
): void {
  client.query(new FirstValueQuery(text, undefined, done as () => void));
}

/**
 * A statement with no parameters written ahead of another in the same Sync (see {@link queryWithAhead}).
 * `done` is called once: with the first field of its first row as the server's text (null when none) once the
 * server completed it, or with the error the statement (or the connection) failed with.
 */
export interface StatementAhead {
  readonly text: string;
  readonly done: (err: Error | null, value: string | null) => void;
  /**
   * Called when it goes in the Sync of the statement behind it (not on its own); `named`: as a named statement
   * of the connection, which the server may have lost (see {@link name}).
   */
  carried?(named?: boolean): void;
  /**
   * A named statement (`prepare: true`, see StatementCache): bound by this name instead of parsed unnamed, and
   * parsed first (behind a Close of the name, so a copy the server may still hold cannot fail the Parse) when
   * `parse` is set.
   */
  readonly name?: string;
  readonly parse?: boolean;
  /** False when it must not go as a named statement (see StatementCache#own). */
  readonly mayName?: boolean;
}

/** Close messages a query writes ahead of everything else; `written` once they were. */
export interface OwedCloses {
  readonly names: readonly string[];
  written: boolean;
}

/** What pg's Connection writes for an extended-protocol statement (the methods pg's own Query calls). */
interface ProtocolWriter {
  parse(config: { text: string; name?: string }): void;
  bind(config: object): void;
  execute(config: object): void;
  close(msg: { type: 'S' | 'P'; name: string }): void;
  stream: { cork?: () => void; uncork?: () => void };
}

/** The handlers pg calls on the query it runs, and its `submit` (an Error it returns fails the query). */
interface QueryHandlers {
  text?: unknown;
  values?: unknown;
  name?: unknown;
  submit(connection: ProtocolWriter): Error | null;
  handleDataRow(msg: DataRowMessage): void;
  handleCommandComplete(msg: unknown, connection: unknown): void;
  handleError(err: Error, connection: unknown): void;
  handleReadyForQuery(connection: unknown): void;
}

const QueryBase = pg.Query as unknown as new (
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  callback: unknown,
) => QueryHandlers;
const base = pg.Query.prototype as unknown as QueryHandlers;

/**
 * pg's own `Query` for the statement, with the statements `ahead` of it written first as Parse/Bind/Execute
 * without a Sync of their own: the server answers all of them in one flush (one packet, one ReadyForQuery)
 * instead of one each, and skips the statement when one ahead of it fails. The answers to those ahead come
 * first (a BindComplete, the DataRows and a CommandComplete each, no RowDescription as nothing describes
 * them); this query takes them out before pg's handlers see the statement's own. pg calls these handlers on
 * whatever query it runs (its Submittable interface); pg-client-internals.test.ts and
 * integration-tests/statements-ahead.test.ts fail if it stops.
 */
class AheadQuery extends QueryBase {
  readonly #ahead: readonly StatementAhead[];
  /** The first statement ahead not answered yet. */
  #next = 0;
  #value: string | null = null;
  #rows = 0;
  /** Set while pg writes the statement: a failure it reports then (a value it cannot serialise) is the statement's own. */
  #writing = false;

  /** Statements to close first (the statement cache's evicted ones). */
  readonly #closes: OwedCloses | undefined;

  constructor(
    ahead: readonly StatementAhead[],
    config: string | pg.QueryConfig,
    values: unknown[] | undefined,
    done: unknown,
    closes: OwedCloses | undefined,
    name: string | undefined,
  ) {
    super(config, values, done);
    this.#ahead = ahead;
    this.#closes = closes;
    // Named after it was made from a string: pg copies an object config property by property.
    if (name !== undefined) this.name = name;
    // A statement without values would go in pg's simple protocol, whose Query message cannot share a Sync
    // (its own ReadyForQuery would answer it): pg's documented `queryMode: 'extended'` sends it as
    // Parse/Bind/Execute like one with values (canCarryAhead let only a single statement through).
    (this as { queryMode?: string }).queryMode = 'extended';
    // pg reads a per-query `query_timeout` from the object it is handed, which pg's Query does not copy.
    const timeout =
      typeof config === 'string' ? undefined : (config as { query_timeout?: unknown }).query_timeout;
    if (timeout !== undefined) (this as { query_timeout?: unknown }).query_timeout = timeout;
    for (const statement of ahead) statement.carried?.();
  }

  override submit(connection: ProtocolWriter): Error | null {
    // pg refuses these before writing anything; the statements ahead then fail with the same error.
    if (
      typeof this.text !== 'string' ||
      (this.values !== undefined && !Array.isArray(this.values)) ||
      (typeof this.name === 'string' && !nameFree(connection, this.name, this.text))
    ) {
      return base.submit.call(this, connection);
    }
    // pg's simple protocol answers in text: a statement without values keeps text results under the
    // client's `binary: true` (which pg sets on the query after it was made), as it would on its own.
    if (this.values === undefined || (this.values as unknown[]).length === 0) {
      (this as { binary?: boolean }).binary = false;
    }
    const stream = connection.stream;
    stream.cork?.();
    this.#writing = true;
    try {
      const closes = this.#closes;
      if (closes !== undefined) {
        for (const name of closes.names) connection.close({ type: 'S', name });
        closes.written = true;
      }
      for (const statement of this.#ahead) {
        const name = statement.name;
        if (name === undefined) {
          connection.parse({ text: statement.text });
          connection.bind({});
        } else {
          if (statement.parse === true) {
            connection.close({ type: 'S', name });
            connection.parse({ text: statement.text, name });
          }
          connection.bind({ statement: name });
        }
        connection.execute({});
      }
      return base.submit.call(this, connection);
    } finally {
      this.#writing = false;
      stream.uncork?.();
    }
  }

  override handleDataRow(msg: DataRowMessage): void {
    if (this.#next < this.#ahead.length) {
      if (this.#rows++ === 0) this.#value = msg.fields[0] ?? null;
      return;
    }
    base.handleDataRow.call(this, msg);
  }

  override handleCommandComplete(msg: unknown, connection: unknown): void {
    if (this.#next < this.#ahead.length) {
      const statement = this.#ahead[this.#next++] as StatementAhead;
      const value = this.#value;
      this.#value = null;
      this.#rows = 0;
      statement.done(null, value);
      return;
    }
    base.handleCommandComplete.call(this, msg, connection);
  }

  override handleError(err: Error, connection: unknown): void {
    // The server skips everything up to the Sync after a failure: the statements ahead not answered yet failed
    // with it (or with the connection). A failure pg reports while writing is the statement's own.
    if (!this.#writing) this.#fail(err);
    base.handleError.call(this, err, connection);
  }

  override handleReadyForQuery(connection: unknown): void {
    if (this.#next < this.#ahead.length)
      this.#fail(new Error('the server answered the Sync before the statements written ahead of the query'));
    base.handleReadyForQuery.call(this, connection);
  }

  /** A caller's wrapper of `client.query` threw: the statements ahead not answered yet fail (once) with it. */
  failUnsent(err: Error): void {
    this.#fail(err);
  }

  #fail(err: Error): void {
    while (this.#next < this.#ahead.length) (this.#ahead[this.#next++] as StatementAhead).done(err, null);
  }
}

/**
 * Sends `config` with `values` on `client` in pg's callback form (`done`, as {@link queryWithCallback}), with the
 * statements `ahead` of it in its Sync, behind a Close of each of `closes`, under `name` when given (the statement
 * cache's). The caller checked `canCarryAhead`.
 */
export function queryWithAhead(
  client: pg.Client,
  ahead: readonly StatementAhead[],
  config: string | pg.QueryConfig,
  values: unknown[] | undefined,
  done: (err: Error | null, result: never) => void,
  closes?: OwedCloses,
  name?: string,
): void {
  const query = new AheadQuery(ahead, config, values, done, closes, name);
  try {
    client.query(query as unknown as pg.Query);
  } catch (err) {
    // A caller's wrapper of `client.query` threw (before or after handing the query to pg): each statement
    // ahead not answered fails once; the caller's `done` ignores a second call.
    const error = (err ?? new Error('query failed')) as Error;
    query.failUnsent(error);
    done(error, undefined as never);
  }
}

/** Sends each statement waiting ahead on its own (what comes next cannot carry them). */
export function sendAheadAlone(client: pg.Client, ahead: readonly StatementAhead[] | undefined): void {
  if (ahead === undefined) return;
  for (const statement of ahead) {
    // Answered once: a caller's wrapper of `client.query` may throw after pg took the statement.
    let answered = false;
    const done = (err: Error | null, value: string | null): void => {
      if (answered) return;
      answered = true;
      statement.done(err, value);
    };
    try {
      queryFirstValue(client, statement.text, done);
    } catch (err) {
      // The wrapper threw: the statement is answered with it, not left in flight.
      done((err ?? new Error('query failed')) as Error, null);
    }
  }
}

/** Fails each statement waiting ahead with `err`: none of them was sent. */
export function failAhead(ahead: readonly StatementAhead[] | undefined, err: Error): void {
  if (ahead !== undefined) for (const statement of ahead) statement.done(err, null);
}
