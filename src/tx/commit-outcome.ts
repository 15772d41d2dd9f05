import { isConnectionLoss, wasNeverSent } from '../pool/connect-errors.js';

/**
 * What the server's answer to COMMIT means:
 * - `'committed'`: the transaction is committed;
 * - `'rolledBack'`: the server answered COMMIT with ROLLBACK (the transaction had failed): nothing committed;
 * - `'refused'`: the server answered with an error: the transaction is over, rolled back;
 * - `'lost'`: the connection was gone before COMMIT left (pg sent nothing): the server rolled back;
 * - `'unknown'`: the connection was lost while COMMIT was in flight: it may or may not have committed.
 */
export type CommitOutcome = 'committed' | 'rolledBack' | 'refused' | 'lost' | 'unknown';

/** The answer COMMIT got: its result's command tag, or the error it rejected with. */
export type CommitAnswer =
  | { readonly ok: true; readonly command: string }
  | { readonly ok: false; readonly err: unknown };

/** Classifies the answer to COMMIT (a pure function of it). */
export function classifyCommit(answer: CommitAnswer): CommitOutcome {
  if (answer.ok) return answer.command === 'ROLLBACK' ? 'rolledBack' : 'committed';
  if (!isConnectionLoss(answer.err)) return 'refused';
  return wasNeverSent(answer.err) ? 'lost' : 'unknown';
}
