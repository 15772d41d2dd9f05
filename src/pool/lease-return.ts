import type { Logger } from 'pino';
import type { DestroyReason } from '../logging/events.js';
import { LogEvent } from '../logging/events.js';
import type { Lease } from './lease.js';
import { forgetAllStatements } from './pg-statements.js';
import type { ResetMode } from './pool-config.js';

/** What happens to a returned connection: reused as it is, reset on the server first, or destroyed. */
export type ReturnVerdict =
  | { readonly kind: 'reuse' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'destroy'; readonly reason: DestroyReason };

const REUSE: ReturnVerdict = { kind: 'reuse' };
const RESET: ReturnVerdict = { kind: 'reset' };
const DESTROY = new Map<DestroyReason, ReturnVerdict>();

function destroy(reason: DestroyReason): ReturnVerdict {
  let verdict = DESTROY.get(reason);
  if (!verdict) {
    verdict = { kind: 'destroy', reason };
    DESTROY.set(reason, verdict);
  }
  return verdict;
}

/** The rules a returned connection is judged by (from the pool's settings). */
export interface ReturnRules {
  readonly maxUses: number;
  readonly resetOnRelease: ResetMode;
}

/**
 * The verdict on a returned lease without asking the server: broken, still running a query, expired or used up
 * means destroy; inside a transaction (or `resetOnRelease: 'discard'`) means reset; else reuse.
 */
export function returnVerdict(lease: Lease, rules: ReturnRules, now = performance.now()): ReturnVerdict {
  const info = lease.info;
  if (info.brokenBy !== undefined) return destroy('broken');
  if (info.inflight > 0) return destroy('query still running');
  if (now >= info.expiresAt) return destroy('expired');
  if (info.uses >= rules.maxUses) return destroy('max uses');
  if (lease.transactionStatus() !== 'I' || rules.resetOnRelease === 'discard') return RESET;
  return REUSE;
}

const RESOLVED = Promise.resolve();

/**
 * Returns a lease's connection: judged by {@link returnVerdict} (or destroyed for `destroyReason`), reset on the
 * server when it must be, then handed to `settle` with the reason to destroy it (undefined: keep it). Never
 * rejects; without a reset nothing is awaited and no promise is made.
 */
export function returnLease(
  lease: Lease,
  destroyReason: DestroyReason | undefined,
  rules: ReturnRules,
  log: Logger,
  settle: (lease: Lease, reason: DestroyReason | undefined) => void,
): Promise<void> {
  if (destroyReason !== undefined) {
    settle(lease, destroyReason);
    return RESOLVED;
  }
  const verdict = returnVerdict(lease, rules);
  if (verdict.kind !== 'reset') {
    settle(lease, verdict.kind === 'destroy' ? verdict.reason : undefined);
    return RESOLVED;
  }
  return resetConnection(lease, rules.resetOnRelease, log).then((reason) => settle(lease, reason));
}

/**
 * Rolls back and/or discards session state on a returned connection; resolves with `'reset failed'` (destroy
 * it) when that fails or leaves the connection inside a transaction, else undefined. Never rejects.
 */
export async function resetConnection(
  lease: Lease,
  mode: ResetMode,
  log: Logger,
): Promise<DestroyReason | undefined> {
  const client = lease.rawClient;
  const status = lease.transactionStatus();
  try {
    if (status !== 'I' && log.isLevelEnabled('warn')) {
      log.warn(
        { event: LogEvent.reset, scopeId: lease.id, transactionStatus: status },
        'connection returned inside a transaction; rolling back',
      );
    }
    if (status !== 'I') await client.query('ROLLBACK');
    if (mode === 'discard') {
      await client.query('DISCARD ALL');
      // DISCARD ALL dropped the session's prepared statements: nothing may be sent under their names again.
      forgetAllStatements(client);
      lease.info.statements?.forgetAll();
    }
  } catch (err) {
    if (log.isLevelEnabled('warn')) {
      log.warn({ event: LogEvent.reset, scopeId: lease.id, err }, 'reset failed; destroying the connection');
    }
    return 'reset failed';
  }
  return lease.transactionStatus() === 'I' ? undefined : 'reset failed';
}
