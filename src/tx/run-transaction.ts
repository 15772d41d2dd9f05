import { setTimeout as sleep } from 'node:timers/promises';
import { TransactionRolledBackError } from '../errors.js';
import { type TransactionMessage, transactionChannel } from '../logging/channels.js';
import { LogEvent } from '../logging/events.js';
import { thrownField } from '../logging/thrown-value.js';
import { isConnectionLoss } from '../pool/connect-errors.js';
import type { Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import { runCallback } from './callback-runner.js';
import type { LeaseSource } from './lease-source.js';
import { isRetryable, retryDelayMillis } from './retry.js';
import { Transaction } from './transaction.js';
import type { TxSettings } from './tx-options.js';
import type { TxOutcomes } from './tx-outcomes.js';
import { noteAttempt, traceTransaction, traceUsing, transactionMessage } from './tx-trace.js';

/** Opens a top-level transaction for the `await using` form (no BEGIN sent yet). */
export async function openTransaction(
  core: PoolCore<TxOutcomes>,
  source: LeaseSource,
  settings: TxSettings,
): Promise<Transaction> {
  // An already aborted signal: reject at once, before any connection is used (on `conn.transaction` too).
  settings.signal?.throwIfAborted();
  const traceEnd = transactionChannel.hasSubscribers
    ? traceUsing(transactionMessage(core, settings, 'using'))
    : undefined;
  let lease: Lease;
  try {
    lease = source.kind === 'pool' ? await source.acquire(settings.timeoutMillis) : source.lease;
  } catch (err) {
    traceEnd?.end(undefined, undefined, err);
    throw err;
  }
  const tx = new Transaction(core, lease, source.kind === 'pool', settings);
  if (traceEnd) {
    lease.tracedTransaction = traceEnd.message;
    tx.onEnd = (firstError) => {
      lease.tracedTransaction = undefined;
      traceEnd.end(tx, lease, firstError);
    };
  }
  if (source.kind === 'pool') {
    const deadline =
      settings.timeoutMillis === undefined ? undefined : performance.now() + settings.timeoutMillis;
    tx.allowResend(() =>
      source.acquire(deadline === undefined ? undefined : Math.max(1, deadline - performance.now()), false),
    );
  }
  if (settings.timeoutMillis !== undefined || settings.signal) tx.watch(settings.timeoutMillis);
  return tx;
}

/** The time left until `deadline` (at least 1 ms), or undefined without one. */
function remainingUntil(deadline: number | undefined): number | undefined {
  return deadline === undefined ? undefined : Math.max(1, deadline - performance.now());
}

/**
 * The callback form, with retry: each attempt a fresh transaction (on a fresh connection from the pool), after
 * an exponential backoff with jitter, while the failure is retryable, attempts remain and the deadline allows.
 */
export function runTransaction<T>(
  core: PoolCore<TxOutcomes>,
  source: LeaseSource,
  settings: TxSettings,
  fn: (tx: Transaction) => Promise<T> | T,
): Promise<T> {
  if (!transactionChannel.hasSubscribers) {
    return settings.retry === undefined
      ? attemptOnce(core, source, settings, fn)
      : attempts(core, source, settings, fn, undefined);
  }
  const message = transactionMessage(core, settings, 'callback');
  return traceTransaction(message, () => attempts(core, source, settings, fn, message));
}

/** A transaction for one attempt on `lease`, allowed to re-send its first flight, watched when it has a deadline. */
function startAttempt(
  core: PoolCore<TxOutcomes>,
  source: LeaseSource,
  settings: TxSettings,
  lease: Lease,
  deadline: number | undefined,
): { tx: Transaction; aborted: Promise<never> | undefined } {
  const tx = new Transaction(core, lease, source.kind === 'pool', settings);
  if (source.kind === 'pool') {
    // Without a deadline the source's own re-send acquire serves: no closure per transaction.
    tx.allowResend(
      deadline === undefined ? source.resend : () => source.acquire(remainingUntil(deadline), false),
    );
  }
  const aborted =
    settings.timeoutMillis !== undefined || settings.signal ? tx.watch(remainingUntil(deadline)) : undefined;
  return { tx, aborted };
}

/** `attempts` without retry or tracing: one attempt, and no async layer above the callback runner's own. */
function attemptOnce<T>(
  core: PoolCore<TxOutcomes>,
  source: LeaseSource,
  settings: TxSettings,
  fn: (tx: Transaction) => Promise<T> | T,
): Promise<T> {
  try {
    // An already aborted signal: reject at once, without running the callback (on `conn.transaction` too).
    settings.signal?.throwIfAborted();
  } catch (err) {
    return Promise.reject(err);
  }
  const deadline =
    settings.timeoutMillis === undefined ? undefined : performance.now() + settings.timeoutMillis;
  const run = (lease: Lease): Promise<T> => {
    const { tx, aborted } = startAttempt(core, source, settings, lease, deadline);
    return runCallback(tx, fn, aborted);
  };
  if (source.kind === 'connection') return run(source.lease);
  const lease = source.now?.();
  return lease ? run(lease) : source.acquire(remainingUntil(deadline)).then(run);
}

/** Every attempt of a callback transaction (`trace`: the scope's channel message, when traced). */
async function attempts<T>(
  core: PoolCore<TxOutcomes>,
  source: LeaseSource,
  settings: TxSettings,
  fn: (tx: Transaction) => Promise<T> | T,
  trace: TransactionMessage | undefined,
): Promise<T> {
  const deadline =
    settings.timeoutMillis === undefined ? undefined : performance.now() + settings.timeoutMillis;
  const retry = settings.retry;
  // An already aborted signal: reject at once, without running the callback (on `conn.transaction` too).
  settings.signal?.throwIfAborted();
  for (let attempt = 1; ; attempt++) {
    const lease =
      source.kind === 'connection'
        ? source.lease
        : (source.now?.() ?? (await source.acquire(remainingUntil(deadline))));
    const { tx, aborted } = startAttempt(core, source, settings, lease, deadline);
    if (trace) lease.tracedTransaction = trace;
    try {
      const value = await runCallback(tx, fn, aborted);
      if (trace) {
        lease.tracedTransaction = undefined;
        noteAttempt(trace, tx, lease, attempt, undefined, false, false);
      }
      return value;
    } catch (err) {
      const delayMillis = retry ? retryDelayMillis(attempt, retry) : 0;
      const again =
        retry !== undefined &&
        attempt < retry.maxAttempts &&
        isRetryable(err) &&
        !settings.signal?.aborted &&
        // On the caller's own connection, a lost connection cannot be retried: there is no second one.
        !(source.kind === 'connection' && (isConnectionLoss(err) || lease.state !== 'leased')) &&
        (deadline === undefined || performance.now() + delayMillis < deadline);
      if (trace) {
        lease.tracedTransaction = undefined;
        noteAttempt(trace, tx, lease, attempt, err, true, again);
      }
      if (!again) throw err;
      if (core.log.isLevelEnabled('info')) {
        // A swallowed failure reaches here as TransactionRolledBackError: its cause holds the SQLSTATE.
        const failure = err instanceof TransactionRolledBackError ? err.cause : err;
        core.log.info(
          {
            event: LogEvent.txRetry,
            txId: tx.id,
            scopeId: lease.id,
            attempt,
            sqlstate: thrownField(failure, 'code'),
            delayMillis,
            err,
          },
          'retrying transaction',
        );
      }
      // The pool closing ends the sleep too: the next attempt then fails at once, as it would have after it.
      const wake = settings.signal
        ? AbortSignal.any([settings.signal, core.closingSignal])
        : core.closingSignal;
      await sleep(delayMillis, undefined, { signal: wake }).catch(() => {
        if (settings.signal?.aborted) throw settings.signal.reason ?? err;
      });
    }
  }
}
