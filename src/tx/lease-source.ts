import type { Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import type { TxSettings } from './tx-options.js';

/** Where a transaction's connection comes from: a fresh lease per attempt, or the caller's connection. */
export type LeaseSource =
  | {
      readonly kind: 'pool';
      /** `checkNested: false`: the caller gives a connection back for it (re-sending a first flight). */
      acquire(remainingMillis: number | undefined, checkNested?: false): Promise<Lease>;
      /** A lease at once when one is free without waiting (see `PoolCore#leaseNow`), else undefined. */
      now?(): Lease | undefined;
      /** `acquire(undefined, false)`, made once per source: the re-send's acquire without a deadline. */
      readonly resend: () => Promise<Lease>;
    }
  | { readonly kind: 'connection'; readonly lease: Lease };

/**
 * Leases from `core` for a transaction with `settings`: each acquire bounded by the time the transaction has
 * left and by the pool's `acquireTimeoutMillis`, and ended by the transaction's abort signal.
 */
export function poolLeaseSource(
  core: PoolCore,
  settings: TxSettings,
  checkNested: boolean | 'whenFull',
): LeaseSource {
  // Built once per transaction, not per acquire: without a deadline the options are the same every time.
  const signalOnly = settings.signal ? { signal: settings.signal } : undefined;
  const acquire = (remainingMillis: number | undefined, nested?: false) =>
    core.lease(
      remainingMillis === undefined
        ? signalOnly
        : {
            timeoutMillis: Math.min(remainingMillis, core.settings.acquireTimeoutMillis),
            ...(settings.signal ? { signal: settings.signal } : {}),
          },
      nested ?? checkNested,
    );
  const signal = settings.signal;
  return {
    kind: 'pool',
    acquire,
    now: () => core.leaseNow(signal, checkNested),
    resend: () => acquire(undefined, false),
  };
}
