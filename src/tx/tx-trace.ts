import { CommitUnknownError } from '../errors.js';
import {
  type TransactionMessage,
  type TransactionOutcome,
  traced,
  transactionAttemptChannel,
  transactionChannel,
} from '../logging/channels.js';
import type { Lease } from '../pool/lease.js';
import { type ChannelSource, serverOf } from '../pool/pool-channels.js';
import type { TransactionState } from './transaction-state.js';
import type { TxSettings } from './tx-options.js';

/**
 * What a top-level transaction publishes on `pg-scope:transaction` and `pg-scope:transaction:attempt` (see
 * `logging/channels.ts`). Only called when the transaction channel has subscribers.
 */

/** The attempt a message reports: its ids and final state. */
export interface TracedAttempt {
  readonly id: string;
  readonly scopeId: string;
  readonly state: TransactionState;
}

/** A new message for a transaction scope. */
export function transactionMessage(
  source: ChannelSource,
  settings: TxSettings,
  form: 'callback' | 'using',
): TransactionMessage {
  return {
    pool: source.publicPool,
    poolName: source.name,
    form,
    isolation: settings.isolation,
    readOnly: settings.readOnly,
    attempts: 0,
  };
}

/** What an attempt's end state and error say about its outcome. */
export function outcomeOf(state: TransactionState, err: unknown): TransactionOutcome {
  if (err instanceof CommitUnknownError) return 'unknown';
  if (state === 'committed') return 'committed';
  if (state === 'failed') return 'failed';
  return 'rolledBack';
}

/** Records an attempt on the scope's message, and publishes it when the attempt channel has subscribers. */
export function noteAttempt(
  message: TransactionMessage,
  tx: TracedAttempt,
  lease: Lease,
  attempt: number,
  err: unknown,
  failed: boolean,
  retrying: boolean,
): void {
  message.attempts = attempt;
  message.server = serverOf(lease);
  message.txId = tx.id;
  message.scopeId = tx.scopeId;
  message.outcome = outcomeOf(tx.state, failed ? err : undefined);
  if (!transactionAttemptChannel.hasSubscribers) return;
  transactionAttemptChannel.publish({
    pool: message.pool,
    poolName: message.poolName,
    transaction: message,
    attempt,
    txId: tx.id,
    scopeId: tx.scopeId,
    outcome: message.outcome,
    retrying,
    ...(failed ? { error: err } : {}),
  });
}

/** The callback form: `run()` (every attempt) between the scope's start and end events. */
export function traceTransaction<T>(message: TransactionMessage, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  return traced(transactionChannel, message, run, (m, _value, failed) => {
    m.durationMillis = performance.now() - started;
    // A rejection before any attempt ended (an acquire that failed): nothing was begun.
    if (failed && m.attempts === 0) m.outcome = 'rolledBack';
  });
}

/**
 * The `await using` form: `start` and `end` when `pool.transaction()` is called, `asyncStart` and `asyncEnd`
 * (after `error` when its acquire or a statement in it failed) when it ends. Returns what to call then
 * (`tx` undefined: it never opened).
 */
export function traceUsing(
  message: TransactionMessage,
): (tx: TracedAttempt | undefined, lease: Lease | undefined, err: unknown) => void {
  const started = performance.now();
  transactionChannel.start.publish(message);
  transactionChannel.end.publish(message);
  return (tx, lease, err) => {
    if (lease) message.server = serverOf(lease);
    if (tx) {
      message.attempts = 1;
      message.txId = tx.id;
      message.scopeId = tx.scopeId;
    }
    message.outcome = tx ? outcomeOf(tx.state, undefined) : 'rolledBack';
    message.durationMillis = performance.now() - started;
    if (err !== undefined) {
      message.error = err;
      transactionChannel.error.publish(message);
    }
    transactionChannel.asyncStart.publish(message);
    transactionChannel.asyncEnd.publish(message);
  };
}
