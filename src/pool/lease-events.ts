import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import type { PoolStats } from '../stats.js';
import type { Lease } from './lease.js';

/**
 * What the pool logs about its leases: lent (debug; warn when the wait was slow), returned (debug; info when a
 * leak ended). Every payload is built only when its
 * level is on.
 */

/** A lease was lent after waiting `waitedMillis` (`pool` gives the stats a slow-acquire warning carries). */
export function logLent(
  log: Logger,
  lease: Lease,
  waitedMillis: number,
  slowAcquireMillis: number,
  pool: { stats(): PoolStats },
): void {
  if (log.isLevelEnabled('debug')) {
    log.debug(
      { event: LogEvent.acquire, scopeId: lease.id, waitMillis: Math.round(waitedMillis) },
      'acquired',
    );
  }
  if (waitedMillis >= slowAcquireMillis && log.isLevelEnabled('warn')) {
    log.warn(
      {
        event: LogEvent.slowAcquire,
        scopeId: lease.id,
        waitMillis: Math.round(waitedMillis),
        stats: pool.stats(),
      },
      'slow acquire',
    );
  }
}

/** A lease came back (its connection is then reused or destroyed). */
export function logReturned(log: Logger, lease: Lease): void {
  if (lease.leaked && log.isLevelEnabled('info')) {
    log.info(
      {
        event: LogEvent.leakEnded,
        scopeId: lease.id,
        heldMillis: Math.round(performance.now() - lease.acquiredAt),
      },
      'leaked connection returned',
    );
  }
  if (log.isLevelEnabled('debug')) {
    log.debug(
      {
        event: LogEvent.release,
        scopeId: lease.id,
        heldMillis: Math.round(performance.now() - lease.acquiredAt),
      },
      'released',
    );
  }
}
