import type { DestroyReason } from '../logging/events.js';
import type { ClientInfo } from './client-info.js';

/**
 * Why a connection cannot be lent or kept, once the caller knows it must go: the pool is closing, or it broke
 * (or the pool has no record of it), or else `otherwise` (the caller's own reason: expired, idle).
 */
export function unusableReason(
  info: ClientInfo | undefined,
  closing: boolean,
  otherwise: DestroyReason,
): DestroyReason {
  if (closing) return 'pool closed';
  return info === undefined || info.brokenBy !== undefined ? 'broken' : otherwise;
}

/**
 * Why a connection out of the idle store may not be lent (it broke, or reached its lifetime), or undefined when
 * it may. One verdict for the caller taking it and for the idle sweep.
 */
export function idleUnusable(
  info: ClientInfo | undefined,
  now = performance.now(),
): 'broken' | 'expired' | undefined {
  if (info === undefined || info.brokenBy !== undefined) return 'broken';
  return now >= info.expiresAt ? 'expired' : undefined;
}

/** Destroy reasons logged at warn: the connection broke, or could not be made safe for reuse. */
export const UNSAFE_REASONS: ReadonlySet<DestroyReason> = new Set<DestroyReason>([
  'broken',
  'reset failed',
  'query still running',
  'scope ended abnormally',
]);
