import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import type { LentLeases } from './lent-leases.js';

/**
 * Leak detection: one sweep over the borrowed connections a few times per threshold, instead of a timer per
 * acquire. A lease held longer than `leakMillis` is reported once (at warn, with its acquirer's stack) between
 * 1 and 1.25 thresholds after it was acquired.
 */
export class LeakDetector {
  readonly #timer: NodeJS.Timeout;

  constructor(log: Logger, leases: LentLeases, leakMillis: number) {
    this.#timer = setInterval(
      () => sweepLeaks(log, leases, leakMillis),
      Math.max(5, Math.min(1_000, leakMillis / 4)),
    );
    // Never keeps the process alive: a borrowed connection's socket does that already.
    this.#timer.unref();
  }

  /** Stops the sweeps (pool closing). Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Warns once for each borrowed lease held longer than `leakMillis`, with its acquirer's stack. */
function sweepLeaks(log: Logger, leases: LentLeases, leakMillis: number): void {
  if (leases.size === 0 || !log.isLevelEnabled('warn')) return;
  const now = performance.now();
  for (const lease of leases) {
    if (lease.leaked || now - lease.acquiredAt < leakMillis) continue;
    lease.leaked = true;
    log.warn(
      {
        event: LogEvent.leak,
        scopeId: lease.id,
        heldMillis: Math.round(now - lease.acquiredAt),
        stack: lease.acquiredStack?.stack,
      },
      'connection held longer than leakDetectionMillis',
    );
  }
}
