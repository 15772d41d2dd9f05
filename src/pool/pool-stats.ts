import type { PoolStats } from '../stats.js';
import type { AcquireFailures } from './acquire-failures.js';
import type { AcquireQueue } from './acquire-queue.js';
import type { ConnectionFactory } from './connection-factory.js';
import type { IdleStore } from './idle-store.js';
import type { LentLeases } from './lent-leases.js';
import type { PoolSettings } from './pool-config.js';
import type { WarmIdle } from './warm-idle.js';

/** Counts the pool reports but does not keep itself (`PoolStats.commits`, `rollbacks`: the transactions'). */
export interface OutcomeCounts {
  readonly commits: number;
  readonly rollbacks: number;
}

/** The parts of a pool whose counters `stats()` reads. */
export interface CountedPool {
  readonly settings: PoolSettings;
  readonly store: IdleStore;
  readonly queue: AcquireQueue;
  readonly leases: LentLeases;
  readonly warm: WarmIdle;
  readonly factory: ConnectionFactory;
  readonly failures: AcquireFailures;
  readonly outcomes: OutcomeCounts;
}

/** A snapshot of a pool's counters and totals; `closed`: every connection is gone, none is idle. */
export function poolStats(pool: CountedPool, closed: boolean): PoolStats {
  const { store, queue, leases, factory, outcomes } = pool;
  const oldest = leases.oldest();
  return {
    max: pool.settings.max,
    min: pool.settings.min,
    size: store.size + queue.connecting,
    idle: closed ? 0 : store.available + pool.warm.size,
    borrowed: leases.size,
    waiting: queue.waiting,
    acquired: leases.acquired,
    created: factory.created,
    destroyed: factory.destroyed,
    exhausted: pool.failures.exhaustedCount,
    commits: outcomes.commits,
    rollbacks: outcomes.rollbacks,
    longestBorrowMillis: oldest ? Math.round(performance.now() - oldest.acquiredAt) : 0,
    ...(factory.statements && { statements: factory.statements.stats() }),
  };
}
