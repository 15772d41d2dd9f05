import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { quantile } from './stats.js';

/** A library's figures in one round of one workload, by metric key. */
export type Figures = Record<string, number>;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage outside the measured window, so one library's garbage is not billed to the next. */
export function collectGarbage(): void {
  gc();
}

/**
 * How long a library runs unmeasured after {@link collectGarbage}, before its window: a forced full collection
 * throws away compiled code of functions that did not run lately (the measured library's, while the previous
 * one ran), and the window would otherwise pay for compiling it again, in proportion to how much JavaScript a
 * library runs (32 workers in one process: a gc() right before each block put pg-scope at 1.25× a hand-written
 * pg.Pool's CPU, a gc() then ~300 ms of the same work at 0.98×). A service that runs its queries all the time
 * never pays that. At most half the window, so `--quick` stays quick.
 */
const SETTLE_MILLIS = 300;

async function settle(durationMillis: number, workers: number, op: () => Promise<void>): Promise<void> {
  const deadline = performance.now() + Math.min(SETTLE_MILLIS, durationMillis / 2);
  const loop = async () => {
    while (performance.now() < deadline) await op();
  };
  await Promise.all(Array.from({ length: workers }, loop));
}

function summarize(latencies: number[], elapsedMillis: number, cpuMicros: number): Figures {
  const sorted = Float64Array.from(latencies).sort();
  const ops = sorted.length;
  return {
    ops,
    throughput: (ops * 1000) / elapsedMillis,
    cpuPerOp: cpuMicros / ops,
    msPerOp: elapsedMillis / ops,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: quantile(sorted, 1),
    wall: elapsedMillis,
  };
}

/**
 * `workers` loops call `op` back to back until `durationMillis` has passed (after the collection, a short
 * unmeasured run and `beforeWindow`, which may reset counters). Figures: operations, throughput
 * (ops/s), client CPU per operation (µs, user + system, from `process.cpuUsage`), latency p50/p99/max (ms).
 */
export async function runFor(
  durationMillis: number,
  workers: number,
  op: () => Promise<void>,
  beforeWindow?: () => Promise<void>,
): Promise<Figures> {
  collectGarbage();
  await settle(durationMillis, workers, op);
  await beforeWindow?.();
  const latencies: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + durationMillis;
  const loop = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      await op();
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return summarize(latencies, elapsed, cpu.user + cpu.system);
}

/**
 * `callers` calls of `op` started at once. Figures as {@link runFor}, plus `wall`: the time until the last
 * one finished (each caller's latency is its wait for a connection plus its own work).
 */
export async function runBurst(callers: number, op: () => Promise<void>): Promise<Figures> {
  collectGarbage();
  // A quarter of the burst, unmeasured, after the collection (see SETTLE_MILLIS).
  await Promise.all(Array.from({ length: Math.ceil(callers / 4) }, op));
  const latencies = new Array<number>(callers);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < callers; i++) {
    calls.push(
      op().then(() => {
        latencies[i] = performance.now() - started;
      }),
    );
  }
  await Promise.all(calls);
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return summarize(latencies, elapsed, cpu.user + cpu.system);
}
