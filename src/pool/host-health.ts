import type { TargetSessionAttrs } from './hosts.js';
import { roleMatches, type SessionRole } from './session-role.js';

/**
 * How long what a host showed (down, or its role) is trusted before the host is tried in its normal place
 * again: Npgsql's `Host Recheck Seconds` default.
 */
export const HOST_RECHECK_MILLIS = 10_000;

/** What the pool last learnt about one host. */
type Known =
  | { readonly kind: 'down'; readonly at: number }
  | { readonly kind: 'up'; readonly role: SessionRole; readonly at: number };

/**
 * The pool's memory of its hosts, so a dead host (or a standby, for a pool that wants the primary) is not
 * tried first on every connection attempt. Pure: the caller passes the time (`performance.now()`).
 */
export class HostHealth {
  readonly #known: (Known | undefined)[];

  constructor(hostCount: number) {
    this.#known = new Array<Known | undefined>(hostCount).fill(undefined);
  }

  /** A connection attempt to the host failed. */
  noteDown(index: number, now: number): void {
    this.#known[index] = { kind: 'down', at: now };
  }

  /** A session on the host showed `role`. Returns the role the host had before, if known and still fresh. */
  noteRole(index: number, role: SessionRole, now: number): SessionRole | undefined {
    const before = this.#fresh(index, now);
    this.#known[index] = { kind: 'up', role, at: now };
    return before?.kind === 'up' ? before.role : undefined;
  }

  /**
   * The order to try the hosts in for `target`: `base` (the configured order, or a shuffle of it), with the
   * hosts known (recently) to match and the unknown first, in that order (so `loadBalanceHosts: 'random'`
   * still spreads), then those known to be the wrong role, then those known to be down. Every host stays in the
   * list: a down host may be back.
   */
  order(base: readonly number[], target: TargetSessionAttrs, now: number): number[] {
    const rank = (index: number): number => {
      const known = this.#fresh(index, now);
      if (known === undefined) return 0;
      if (known.kind === 'down') return 2;
      return roleMatches(target, known.role) ? 0 : 1;
    };
    const ranks = new Map(base.map((i) => [i, rank(i)]));
    // Array.prototype.sort is stable: equal ranks keep the base order.
    return [...base].sort((a, b) => (ranks.get(a) ?? 0) - (ranks.get(b) ?? 0));
  }

  #fresh(index: number, now: number): Known | undefined {
    const known = this.#known[index];
    return known !== undefined && now - known.at < HOST_RECHECK_MILLIS ? known : undefined;
  }
}

/** `0 … count-1`, in order, or shuffled (Fisher–Yates) for `loadBalanceHosts: 'random'`. */
export function hostSequence(count: number, shuffle: boolean, random: () => number = Math.random): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  if (!shuffle) return order;
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}
