import { CommitUnknownError, TransactionRolledBackError } from '../errors.js';
import { isConnectionLoss } from '../pool/connect-errors.js';
import { isStaleStatementError } from '../pool/stale-errors.js';
import { errorCode } from '../util/error-code.js';
import { MAX_TIMER_MILLIS } from '../util/timers.js';
import type { RetryOptions } from './tx-options.js';

/** SQLSTATEs after which a fresh attempt of the whole transaction may succeed. */
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/**
 * True for the failures transaction retry acts on: serialization failure (40001), deadlock (40P01), a
 * cached prepared statement that failed inside the transaction (`prepare: true`: 26000, 0A000 or 42P05 for a
 * name pg-scope derived), and a connection lost before COMMIT was sent. False for `CommitUnknownError`: the outcome of that COMMIT is
 * unknown, and running the work again could apply it twice.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof CommitUnknownError) return false;
  if (err instanceof TransactionRolledBackError) return isRetryable(err.cause);
  const code = errorCode(err);
  if (code !== undefined && RETRYABLE_SQLSTATES.has(code)) return true;
  return isStaleStatementError(err) || isConnectionLoss(err);
}

/** The backoff before attempt `attempt + 1` (attempt counts from 1): exponential and capped, with "equal jitter": a random delay between half the ceiling and the ceiling. */
export function retryDelayMillis(attempt: number, retry: Required<RetryOptions>): number {
  const ceiling = Math.min(
    retry.maxDelayMillis,
    retry.baseDelayMillis * 2 ** (attempt - 1),
    MAX_TIMER_MILLIS,
  );
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
