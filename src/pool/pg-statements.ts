import pg from 'pg';
import { recapture } from './caller-stack.js';

/**
 * The statement cache's reach under pg.Client's typed API, kept in this one file (as `pg-client-internals.ts`
 * is for the socket and the pipeline switch). pg has no public way to close a named statement or to forget one
 * it parsed: it records every name it parsed in `client.connection.parsedStatements` (and the ones whose Parse
 * is in flight in `submittedNamedStatements`), never removes one (brianc/node-postgres#1889), and skips the
 * Parse of a name it finds there. So:
 * - forgetting a statement deletes the name from those two records, so pg parses it again when asked;
 * - closing one sends the protocol's Close message (pg-protocol serialises it; `Connection#close` is what
 *   pg's own `Query` and pg-cursor call) from inside the `submit` of the next query, so Close travels in the
 *   same socket write as that query's Parse/Bind/Execute/Sync, in wire order behind anything queued before it,
 *   and costs no round trip of its own. The query is pg's own `Query` class (a `Submittable`), so pg's
 *   pipeline mode accepts it.
 * pg-statements.test.ts fails if pg renames the records or changes how it submits a query; the statement-cache
 * integration tests count the Parse and Close messages at a proxy and read `pg_prepared_statements`.
 *
 * Upstream, this would be `client.closeStatement(name)` (Close + forget, queued like a query) in pg itself.
 */
interface StatementRecords {
  connection?: {
    parsedStatements?: Record<string, string | undefined>;
    submittedNamedStatements?: Record<string, string | undefined>;
  };
}

/** What pg's `Query#submit` is handed: its connection, with the protocol writers pg-scope uses. */
interface SubmitConnection {
  close(msg: { type: 'S' | 'P'; name: string }): void;
  stream: { cork?: () => void; uncork?: () => void };
}

/** The records on the connection pg hands a query's `submit` (see {@link StatementRecords}). */
type SubmitRecords = NonNullable<StatementRecords['connection']>;

/** What pg recorded for `name` on `connection`: parsed, or its Parse in flight. */
function recorded(connection: unknown, name: string): string | undefined {
  const con = connection as SubmitRecords;
  return con.parsedStatements?.[name] ?? con.submittedNamedStatements?.[name];
}

/** True when pg would send `name` for `text` (it refuses a name it holds for another text). */
export function nameFree(connection: unknown, name: string, text: string): boolean {
  const previous = recorded(connection, name);
  return previous === undefined || previous === text;
}

function records(client: pg.Client): StatementRecords['connection'] {
  return (client as unknown as StatementRecords).connection;
}

/** Makes pg parse `name` again the next time a query names it (pg would otherwise send only Bind). */
export function forgetStatement(client: pg.Client, name: string): void {
  const con = records(client);
  if (con?.parsedStatements) delete con.parsedStatements[name];
  if (con?.submittedNamedStatements) delete con.submittedNamedStatements[name];
}

/** Forgets every statement pg parsed on `client` (after `DISCARD ALL` or `DEALLOCATE ALL` dropped them). */
export function forgetAllStatements(client: pg.Client): void {
  const con = records(client);
  if (con?.parsedStatements) con.parsedStatements = {};
  if (con?.submittedNamedStatements) con.submittedNamedStatements = {};
}

/** Whether pg saw `name` parsed on `client` (its ParseComplete arrived). */
export function isStatementParsed(client: pg.Client, name: string): boolean {
  return records(client)?.parsedStatements?.[name] !== undefined;
}

/**
 * Tells pg that the server already has `name` for `text` (a pooler's server connection answered `42P05`:
 * another client prepared the same text under the same name), so pg sends only Bind next time.
 */
export function markStatementParsed(client: pg.Client, name: string, text: string): void {
  const parsed = records(client)?.parsedStatements;
  if (parsed) parsed[name] = text;
}

/**
 * Runs `config` on `client` with a Close message for each of `closes` sent first, in the same write.
 * `onSubmit` runs when the messages were written (a query that never reaches the wire never closes them).
 * Resolves and rejects as `client.query(config)` does.
 */
export function queryClosingFirst<R extends pg.QueryResultRow>(
  client: pg.Client,
  config: pg.QueryConfig,
  closes: readonly string[],
  onSubmit: () => void,
): Promise<pg.QueryResult<R>> {
  return new Promise((resolve, reject) => {
    const query = new pg.Query(config, (err: Error | undefined, result: unknown) => {
      if (err) reject(err);
      else resolve(result as pg.QueryResult<R>);
    });
    const submit = query.submit as unknown as (connection: SubmitConnection) => unknown;
    query.submit = ((connection: SubmitConnection) => {
      const stream = connection.stream;
      stream.cork?.();
      try {
        for (const name of closes) connection.close({ type: 'S', name });
        onSubmit();
        return submit.call(query, connection);
      } finally {
        stream.uncork?.();
      }
    }) as unknown as pg.Query['submit'];
    client.query(query);
  });
}

/**
 * `client.query(config)` for a config the cache made from a string (`{ text, values, name? }`): pg copies an
 * object config descriptor by descriptor into each Query it makes (a few µs per statement, which the string form
 * does not pay), so pg's own Query is made from the text and named after. Rejects with the caller's stack, as
 * pg's promise form does.
 */
export function sendPlain<R extends pg.QueryResultRow>(
  client: pg.Client,
  config: pg.QueryConfig,
): Promise<pg.QueryResult<R>> {
  return new Promise<pg.QueryResult<R>>((resolve, reject) => {
    const query = new pg.Query(config.text, config.values, (err: Error | undefined, result: unknown) => {
      if (err) reject(err);
      else resolve(result as pg.QueryResult<R>);
    });
    if (config.name !== undefined) (query as { name?: string }).name = config.name;
    client.query(query);
  }).catch(recapture);
}
