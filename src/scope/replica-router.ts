import { ConnectError, PoolExhaustedError } from '../errors.js';
import type { AcquireOptions } from '../pool/acquire-options.js';
import { hostLabel } from '../pool/hosts.js';
import type { Lease } from '../pool/lease.js';
import type { CloseOptions } from '../pool/pool-close.js';
import type { PoolSettings } from '../pool/pool-config.js';
import { PoolCore } from '../pool/pool-core.js';
import type { PoolStats } from '../stats.js';
import type { LeaseSource } from '../tx/lease-source.js';
import type { TxSettings } from '../tx/tx-options.js';
import { TxOutcomes } from '../tx/tx-outcomes.js';
import { ReplicaHealth, type ReplicaState, TAKEN_OUT } from './replica-health.js';

/**
 * Where read-only work runs when the pool has `replicas`: each replica is a bounded pool of its own, and a
 * read-only scope gets a connection from the usable replica with the fewest borrowed connections relative to
 * its `max` (ties in turn, round-robin) — least-borrowed, so a slow replica gets less, not the same share.
 * Usable: answered its last health check, is in recovery, is within `maxReplicaLagMillis`, and (read your
 * writes) has replayed the caller's last commit. None usable: the primary. An acquire waiting on a replica that
 * is taken out meanwhile goes to the next choice with the time it has left.
 */
export class ReplicaRouter {
  readonly #primary: PoolCore;
  readonly #health: ReplicaHealth;
  #turn = 0;

  constructor(primary: PoolCore, replicas: readonly PoolSettings[], maxLagMillis: number | undefined) {
    this.#primary = primary;
    this.#health = new ReplicaHealth(
      primary,
      replicas.map((settings) => ({
        label: labelOf(settings),
        core: new PoolCore(settings, new TxOutcomes()),
      })),
      maxLagMillis,
    );
  }

  /**
   * A connection for read-only work: from a usable replica, else from the primary. `wroteAt`: when the
   * caller's context last committed a write (`performance.now()`), if it did. Rejects as `core.lease()` does;
   * a replica's exhaustion is that replica's `PoolExhaustedError` (its message names the host).
   */
  async lease(
    options: AcquireOptions | undefined,
    checkNested: boolean | 'whenFull',
    wroteAt: number | undefined,
  ): Promise<Lease> {
    await this.#health.start();
    const timeout = options?.timeoutMillis ?? this.#primary.settings.acquireTimeoutMillis;
    const deadline = performance.now() + timeout;
    for (;;) {
      const replica = this.#pick(wroteAt);
      const left = Math.max(0, deadline - performance.now());
      if (replica === undefined) {
        return this.#primary.lease(
          { ...options, timeoutMillis: timeout === Infinity ? timeout : left },
          checkNested,
        );
      }
      const taken = replica.taken.signal;
      const signal = options?.signal ? AbortSignal.any([options.signal, taken]) : taken;
      try {
        return await replica.core.lease(
          { timeoutMillis: timeout === Infinity ? timeout : left, signal },
          false,
        );
      } catch (err) {
        if (err === TAKEN_OUT && !options?.signal?.aborted) continue;
        if (err instanceof ConnectError && left > 0) {
          this.#health.noteUnreachable(replica, err.cause ?? err);
          continue;
        }
        if (err instanceof PoolExhaustedError) throw onReplica(err, replica.label);
        throw err;
      }
    }
  }

  #pick(wroteAt: number | undefined): ReplicaState | undefined {
    const history = this.#health.history;
    const replicas = this.#health.replicas;
    let best: ReplicaState | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    const n = replicas.length;
    const start = this.#turn++ % n;
    for (let k = 0; k < n; k++) {
      const replica = replicas[(start + k) % n] as ReplicaState;
      if (replica.downReason !== undefined || replica.core.closing) continue;
      if (wroteAt !== undefined && !history.hasReplayed(replica.replayLsn, wroteAt)) continue;
      const stats = replica.core.stats();
      const load = (stats.borrowed + stats.waiting) / stats.max;
      if (load < bestLoad) {
        best = replica;
        bestLoad = load;
      }
    }
    return best;
  }

  /** Each replica pool's counters, in the configured order. */
  stats(): PoolStats[] {
    return this.#health.replicas.map((r) => r.core.stats());
  }

  /** Stops the health checks and closes every replica pool (each as `close()` closes a pool). */
  async close(options?: CloseOptions): Promise<void> {
    this.#health.stop();
    await Promise.all(this.#health.replicas.map((r) => r.core.close(options)));
  }
}

/** `host:port` of a replica, from its host field or connection string (never its password). */
function labelOf(settings: PoolSettings): string {
  const cc = settings.clientConfig;
  if (typeof cc.host === 'string') return hostLabel({ host: cc.host, port: cc.port });
  const url = cc.connectionString;
  const match = typeof url === 'string' ? /^[a-z]+:\/\/(?:[^@/]*@)?([^/?#]*)/i.exec(url) : null;
  return match?.[1] || 'replica';
}

/** The replica's exhaustion, with its message naming the replica. */
function onReplica(err: PoolExhaustedError, label: string): PoolExhaustedError {
  const longest =
    err.longestBorrowScopeId === undefined
      ? undefined
      : { scopeId: err.longestBorrowScopeId, stack: err.longestBorrowStack };
  const named = new PoolExhaustedError(err.reason, err.stats, err.waitedMillis, err.cause, longest, label);
  if (err.stack) named.stack = err.stack.replace(err.message, named.message);
  return named;
}

/**
 * The lease source of a read-only transaction when the pool has replicas: every attempt (and the one re-send of
 * a first flight) asks the router again, so a retry after a replica died goes elsewhere.
 */
export function replicaLeaseSource(
  router: ReplicaRouter,
  acquireTimeoutMillis: number,
  settings: TxSettings,
  checkNested: boolean | 'whenFull',
  wroteAt: number | undefined,
): LeaseSource {
  const signalOnly = settings.signal ? { signal: settings.signal } : undefined;
  const acquire = (remainingMillis: number | undefined, nested?: false) =>
    router.lease(
      remainingMillis === undefined
        ? signalOnly
        : { timeoutMillis: Math.min(remainingMillis, acquireTimeoutMillis), ...signalOnly },
      nested ?? checkNested,
      wroteAt,
    );
  return { kind: 'pool', acquire, resend: () => acquire(undefined, false) };
}
