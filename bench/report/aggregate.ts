import type { Figures } from '../measure.js';
import { median } from '../stats.js';
import type { WorkloadResult } from '../workloads/types.js';

/** The median of a metric over the rounds. */
export function medianOf(rounds: readonly Figures[] | undefined, key: string): number {
  return median((rounds ?? []).map((f) => f[key] ?? Number.NaN));
}

/**
 * The median over rounds of `a`'s figure divided by `b`'s figure in the same round (both measured within
 * seconds of each other, so drifts in machine load cancel).
 */
export function pairedRatio(result: WorkloadResult, a: string, b: string, key: string): number {
  const ra = result.rounds.get(a) ?? [];
  const rb = result.rounds.get(b) ?? [];
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i]?.[key];
    const y = rb[i]?.[key];
    if (x !== undefined && y !== undefined && y !== 0) ratios.push(x / y);
  }
  return median(ratios);
}
