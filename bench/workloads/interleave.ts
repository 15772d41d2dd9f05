import type { BenchClient, Library, OpenConfig } from '../libraries/types.js';
import type { Figures } from '../measure.js';
import type { RunContext } from './types.js';

/** How a workload runs on every library. */
export interface InterleavedSpec {
  readonly id: string;
  readonly open: OpenConfig;
  /** Run once per library before the first round, not measured. */
  warmup(client: BenchClient): Promise<unknown>;
  /** One measurement. */
  measure(client: BenchClient, library: Library): Promise<Figures>;
}

/** `libraries` starting at position `round` (mod length): no library always runs first or after the same one. */
export function rotated<T>(items: readonly T[], round: number): T[] {
  const at = round % items.length;
  return [...items.slice(at), ...items.slice(0, at)];
}

/**
 * Opens every library (all stay open for the whole workload, so no connection is opened while measuring),
 * warms each up, then runs the rounds: each round measures every library once, in a rotated order.
 */
export async function runInterleaved(
  context: RunContext,
  spec: InterleavedSpec,
): Promise<Map<string, Figures[]>> {
  const opened = new Map<Library, BenchClient>();
  try {
    // Opening and warming up are not measured: all libraries at once, to keep the run short.
    context.progress(`${spec.id}: opening and warming up ${context.libraries.length} libraries`);
    const settled = await Promise.allSettled(
      context.libraries.map(async (library) => {
        const client = await library.open(spec.open);
        opened.set(library, client);
        await spec.warmup(client);
      }),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const rounds = new Map<string, Figures[]>(context.libraries.map((l) => [l.name, []]));
    for (let round = 0; round < context.settings.rounds; round++) {
      context.progress(`${spec.id}: round ${round + 1}/${context.settings.rounds}`);
      for (const library of rotated(context.libraries, round)) {
        const client = opened.get(library) as BenchClient;
        rounds.get(library.name)?.push(await spec.measure(client, library));
      }
    }
    return rounds;
  } finally {
    await Promise.allSettled([...opened.values()].map((client) => client.close()));
  }
}
