import type { AcquireOptions } from '../pool/acquire-options.js';
import type { Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import { findFrame, lastWrite } from '../pool/scope-context.js';
import { type LeaseSource, poolLeaseSource } from '../tx/lease-source.js';
import { Transaction } from '../tx/transaction.js';
import type { TxSettings } from '../tx/tx-options.js';
import type { TxOutcomes } from '../tx/tx-outcomes.js';
import { type ReplicaRouter, replicaLeaseSource } from './replica-router.js';
import { RequestScope } from './request-scope.js';

/**
 * The router for a read-only scope: none without replicas, and none inside a scope of the pool that may write
 * (a read-write transaction, an acquire scope on the primary, a read-write request): "a read-only scope opened
 * inside a read-write one runs on the primary". Inside a read-only transaction or request it may.
 */
function readRouter(
  router: ReplicaRouter | undefined,
  core: PoolCore<TxOutcomes>,
): ReplicaRouter | undefined {
  if (!router) return undefined;
  const handle = findFrame(core)?.handle;
  if (handle === undefined) return router;
  if (handle instanceof Transaction) return handle.settings.readOnly ? router : undefined;
  if (handle instanceof RequestScope) return handle.readOnly ? router : undefined;
  return undefined;
}

/** A lease for `acquire(options)`: from a replica for `readOnly` when there are replicas, else from `core`. */
export function routedLease(
  router: ReplicaRouter | undefined,
  core: PoolCore<TxOutcomes>,
  options: AcquireOptions | undefined,
): Promise<Lease> {
  const chosen = options?.readOnly ? readRouter(router, core) : undefined;
  if (!chosen) return core.lease(options);
  return chosen.lease(options, true, lastWrite(core));
}

/** Where a transaction with `settings` gets its connections: replicas for read-only work, if any; else `core`. */
export function routedSource(
  router: ReplicaRouter | undefined,
  core: PoolCore<TxOutcomes>,
  settings: TxSettings,
  checkNested: boolean | 'whenFull',
): LeaseSource {
  const chosen = settings.readOnly ? readRouter(router, core) : undefined;
  if (!chosen) return poolLeaseSource(core, settings, checkNested);
  return replicaLeaseSource(
    chosen,
    core.settings.acquireTimeoutMillis,
    settings,
    checkNested,
    lastWrite(core),
  );
}
