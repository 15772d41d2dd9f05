/**
 * The pure rules of rule 5's resolution: which SQL learns and checks a transaction's id on which server, what
 * the server's answer means, how long to keep asking, and what a lost COMMIT is once its id's answer is known.
 */

/** How long a lost COMMIT is asked about when the scope has no earlier deadline. */
export const RESOLVE_BOUND_MILLIS = 5_000;
/** The first pause between two questions while the transaction is still in progress; it doubles from there. */
const FIRST_POLL_MILLIS = 10;
/** The longest pause between two questions. */
const MAX_POLL_MILLIS = 250;
/** The first version with `pg_current_xact_id_if_assigned()` and `pg_xact_status(xid8)`. */
const XID8_VERSION = 130_000;

/** What `pg_xact_status` (or `txid_status`) said, as the resolver acts on it. */
export type XactStatus = 'committed' | 'aborted' | 'inProgress' | 'unknown';

/**
 * Classifies the status function's answer: `'committed'`, `'aborted'`, `'in progress'`; NULL (the id is too
 * old for the server to know, or wrapped around) or anything else is `'unknown'`.
 */
export function classifyXactStatus(value: unknown): XactStatus {
  if (value === 'committed') return 'committed';
  if (value === 'aborted') return 'aborted';
  if (value === 'in progress') return 'inProgress';
  return 'unknown';
}

/**
 * The statement sent in COMMIT's flight that returns the transaction's id as text, or NULL when it has none
 * (it wrote nothing). `version`: the server's (150004 for 15.4); undefined (not reported) takes the functions
 * every supported version still has.
 */
export function captureXidSql(version: number | undefined): string {
  return version !== undefined && version >= XID8_VERSION
    ? 'select pg_current_xact_id_if_assigned()::text as xid'
    : 'select txid_current_if_assigned()::text as xid';
}

/** The statement that asks what became of transaction `$1` (the id as text), on a server of `version`. */
export function xactStatusSql(version: number | undefined): string {
  return version !== undefined && version >= XID8_VERSION
    ? 'select pg_xact_status($1::xid8) as status'
    : 'select txid_status($1::bigint) as status';
}

/** The pause before question `attempt + 1` (attempt counts from 1) while the transaction is in progress. */
export function pollDelayMillis(attempt: number): number {
  return Math.min(MAX_POLL_MILLIS, FIRST_POLL_MILLIS * 2 ** Math.max(0, attempt - 1));
}

/**
 * When asking must stop (a `performance.now()` time): the scope's deadline if it comes first, else
 * {@link RESOLVE_BOUND_MILLIS} from `now`.
 */
export function resolveUntil(now: number, deadline: number | undefined): number {
  const bound = now + RESOLVE_BOUND_MILLIS;
  return deadline === undefined ? bound : Math.min(bound, deadline);
}

/**
 * What became of the statement that asked for the id, sent just before COMMIT:
 * - `'notAsked'`: none was sent (the option is off, or the transaction is read-only);
 * - `'pending'`: no answer came before the connection was lost;
 * - `'refused'`: the server answered it with an error (a terminated backend's FATAL, an aborted transaction);
 * - `{ xid }`: it answered; `xid` null when the transaction had no id (it wrote nothing).
 */
export type XidAnswer = 'notAsked' | 'pending' | 'refused' | { readonly xid: string | null };

/**
 * What to do with a COMMIT lost in flight, given the id's answer:
 * - `'ask'`: the id is known: ask the server;
 * - `'aborted'`: the server refused the statement before COMMIT. It answers each statement of a pipeline
 *   before it reads the next, so it never read the COMMIT, and the transaction cannot have committed;
 * - `'unknown'`: nothing to ask about (no id asked for, none answered, or the transaction had none).
 */
export function lostCommitVerdict(answer: XidAnswer): 'ask' | 'aborted' | 'unknown' {
  if (answer === 'refused') return 'aborted';
  if (typeof answer === 'object' && answer.xid !== null) return 'ask';
  return 'unknown';
}

/**
 * True when `err` is the server's own answer to a statement (pg's `DatabaseError`, with a five-character
 * SQLSTATE and a severity), as opposed to the connection failing under it (Node's `ECONNRESET`, pg's
 * "Connection terminated", a read timeout).
 */
export function isServerAnswer(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string';
}
