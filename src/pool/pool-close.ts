import type { Logger } from 'pino';
import { PoolClosedError } from '../errors.js';
import { LogEvent } from '../logging/events.js';
import { checkMillis } from '../util/option-checks.js';
import { pollUntil } from '../util/timers.js';
import type { AcquireFailures } from './acquire-failures.js';
import type { AcquireQueue } from './acquire-queue.js';
import type { ConnectionFactory } from './connection-factory.js';
import type { IdleStore } from './idle-store.js';
import type { LeakDetector } from './leak-detector.js';
import { type CountedPool, poolStats } from './pool-stats.js';

/** Options of `pool.close()`. */
export interface CloseOptions {
  /** How long borrowed connections get to come back before they are destroyed. Default 10 000. */
  timeoutMillis?: number;
}

/** The parts of a pool that closing it goes through, in order. */
export interface ClosingPool extends CountedPool {
  readonly log: Logger;
  readonly queue: AcquireQueue;
  readonly failures: AcquireFailures;
  /** Aborted first: sleeps on the pool's behalf (connect backoff, transaction retry) end. */
  readonly stopping: AbortController;
  readonly leaks: LeakDetector | undefined;
  readonly factory: ConnectionFactory;
  readonly store: IdleStore;
}

/** Validates `close()`'s options; the timeout to use. Throws ConfigError. */
export function closeTimeout(options: CloseOptions | undefined): number {
  return options?.timeoutMillis === undefined
    ? 10_000
    : checkMillis('timeoutMillis', options.timeoutMillis, { allowZero: true, allowInfinity: true });
}

/**
 * Closes a pool: waiting acquirers reject with PoolClosedError; borrowed connections get `timeoutMillis` to
 * come back, then are taken away and destroyed; connection attempts are aborted; every connection is closed,
 * its goodbye bounded by the same timeout. Never rejects for a connection that fails to close.
 */
export async function closePool(pool: ClosingPool, timeoutMillis: number): Promise<void> {
  const { log, queue, factory, leases, store } = pool;
  if (log.isLevelEnabled('debug')) {
    log.debug({ event: LogEvent.close, stats: poolStats(pool, false) }, 'closing pool');
  }
  queue.rejectAll(() => new PoolClosedError());
  pool.failures.flush();
  pool.stopping.abort();
  pool.leaks?.stop();
  const deadline = performance.now() + timeoutMillis;
  // Closing connections (cancel requests, goodbyes) count against the same timeout.
  factory.finishBy(deadline);
  factory.abortConnecting();
  await pollUntil(() => leases.size === 0, deadline, 25);
  await Promise.all([...leases].map((lease) => lease.revoke('pool closed')));
  await queue.drained();
  for (const client of store.leftovers()) await factory.destroy(client, 'pool closed');
  await store.close();
  await factory.ended();
}
