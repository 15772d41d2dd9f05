/**
 * The statements every library sends, character for character, and the transfers the workloads make.
 * Each library passes the values as bind parameters (no client-side interpolation).
 */

/** The `select1` statement. */
export const SELECT_ONE = 'SELECT 1';

/** Moves `$1` (negative for a debit) onto account `$2`; both UPDATEs of a transfer use this text. */
export const UPDATE_BALANCE = 'UPDATE bench_accounts SET balance = balance + $1 WHERE id = $2';

/** Records a transfer. */
export const INSERT_LEDGER = 'INSERT INTO bench_ledger (from_id, to_id, amount) VALUES ($1, $2, $3)';

/** Statements in one transfer (k): the round trips are k + 2 with BEGIN and COMMIT on their own. */
export const STATEMENTS_PER_TRANSFER = 3;

/** Accounts the schema creates; transfers pick two of them at random. */
export const ACCOUNT_COUNT = 1_000;

/** Every account's opening balance. */
export const OPENING_BALANCE = 1_000_000;

/** A transfer, with its two UPDATEs already ordered by account id (so concurrent transfers cannot deadlock). */
export interface Transfer {
  readonly from: number;
  readonly to: number;
  readonly amount: number;
  /** The account updated first (the lower id) and the signed amount it gets. */
  readonly firstId: number;
  readonly firstDelta: number;
  /** The account updated second (the higher id) and the signed amount it gets. */
  readonly secondId: number;
  readonly secondDelta: number;
}

/** A random transfer between two different accounts. */
export function randomTransfer(): Transfer {
  const from = 1 + Math.floor(Math.random() * ACCOUNT_COUNT);
  let to = 1 + Math.floor(Math.random() * (ACCOUNT_COUNT - 1));
  if (to >= from) to++;
  const amount = 1 + Math.floor(Math.random() * 100);
  return from < to
    ? { from, to, amount, firstId: from, firstDelta: -amount, secondId: to, secondDelta: amount }
    : { from, to, amount, firstId: to, firstDelta: amount, secondId: from, secondDelta: -amount };
}

/** The schema, dropped and made again at the start of every run: only tables named `bench_*` are touched. */
export const SCHEMA_SQL = [
  'DROP TABLE IF EXISTS bench_ledger',
  'DROP TABLE IF EXISTS bench_accounts',
  'CREATE TABLE bench_accounts (id integer PRIMARY KEY, balance bigint NOT NULL)',
  `CREATE TABLE bench_ledger (
     id bigserial PRIMARY KEY,
     from_id integer NOT NULL,
     to_id integer NOT NULL,
     amount bigint NOT NULL,
     at timestamptz NOT NULL DEFAULT now()
   )`,
  `INSERT INTO bench_accounts (id, balance) SELECT g, ${OPENING_BALANCE} FROM generate_series(1, ${ACCOUNT_COUNT}) AS g`,
  'ANALYZE bench_accounts',
] as const;

/** Removes the benchmark's tables at the end of a run. */
export const DROP_SQL = ['DROP TABLE IF EXISTS bench_ledger', 'DROP TABLE IF EXISTS bench_accounts'] as const;
