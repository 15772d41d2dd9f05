import type { Logger } from 'pino';
import type { Redactor } from '../logging/redact.js';
import { AcquireFailures, type FailureContext } from './acquire-failures.js';
import { AcquireQueue, type QueueHost } from './acquire-queue.js';
import { ConnectGate } from './connect-gate.js';
import { ConnectionFactory } from './connection-factory.js';
import { IdleReturns } from './idle-returns.js';
import { createIdleStore } from './idle-store.js';
import { IdleSweep } from './idle-sweep.js';
import { LeakDetector } from './leak-detector.js';
import { LentLeases } from './lent-leases.js';
import type { ChannelSource } from './pool-channels.js';
import type { ClosingPool } from './pool-close.js';
import type { PoolSettings } from './pool-config.js';
import type { OutcomeCounts } from './pool-stats.js';

/** Everything a pool is made of, wired together: what `stats()` and `close()` go through, and the returns. */
export interface PoolParts extends ClosingPool {
  readonly returns: IdleReturns;
}

/** What the parts call back on the pool that owns them. */
export type PoolHost = QueueHost & FailureContext & ChannelSource;

/**
 * Makes a pool's parts and wires them to one another and to `host`: the connection factory, the idle store
 * (with its `min` and destroy hooks), the returns and warm connections, the queue with its connection jobs,
 * the idle sweep, leak detection, the lent leases and the failures.
 */
export function assemblePool(
  host: PoolHost,
  settings: PoolSettings,
  outcomes: OutcomeCounts,
  log: Logger,
  redactor: Redactor,
): PoolParts {
  const gate = new ConnectGate();
  const leases = new LentLeases();
  const stopping = new AbortController();
  const failures = new AcquireFailures(host, gate, redactor, log);
  const factory = new ConnectionFactory(settings, log);
  factory.channelSource = host;
  const leaks =
    settings.leakDetectionMillis > 0
      ? new LeakDetector(log, leases, settings.leakDetectionMillis)
      : undefined;
  // The store's hooks run only once the store has started, after everything here exists.
  const store = createIdleStore(
    {
      createForMin: () => queue.createForMin(),
      destroy: (client) => returns.closeForStore(client),
      createError: (err) => queue.createForMinFailed(err),
    },
    settings,
  );
  const returns = new IdleReturns(
    store,
    factory,
    () => host.closing,
    () => queue.dispatch(),
  );
  const queue = new AcquireQueue(host, {
    settings,
    store,
    returns,
    factory,
    gate,
    failures,
    log,
    stop: stopping.signal,
  });
  const sweep = new IdleSweep(store, queue);
  factory.onBroken = () => sweep.schedule();
  factory.onExpired = () => sweep.schedule();
  return {
    settings,
    log,
    queue,
    failures,
    stopping,
    leaks,
    factory,
    leases,
    store,
    warm: returns.warm,
    outcomes,
    returns,
  };
}
