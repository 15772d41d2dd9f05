import type { HeldPool, Library } from '../libraries/types.js';
import type { Figures } from '../measure.js';
import { EXHAUSTION_TIMEOUT_MILLIS } from '../settings.js';
import { rotated } from './interleave.js';
import { METRICS } from './metrics.js';
import type { Workload } from './types.js';

interface Outcome {
  readonly figures: Figures;
  readonly errorClass: string;
  readonly message: string;
}

/** One try: pool of 2 both held, a third acquire; how long until it fails, and with what. */
async function attemptOnce(library: Library, url: string, capMillis: number): Promise<Outcome> {
  const held = (await library.exhaust?.(url, EXHAUSTION_TIMEOUT_MILLIS)) as HeldPool;
  try {
    const started = performance.now();
    const settled = held.attempt().then(
      () => ({ error: undefined, at: performance.now(), succeeded: true }),
      (error: unknown) => ({ error, at: performance.now(), succeeded: false }),
    );
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), capMillis);
    });
    const result = await Promise.race([settled, cap]);
    clearTimeout(timer);
    if (result === undefined) {
      return {
        figures: { timeToError: Number.NaN },
        errorClass: '—',
        message: `no error within ${capMillis} ms (still waiting)`,
      };
    }
    if (result.succeeded) {
      return { figures: { timeToError: Number.NaN }, errorClass: '—', message: 'succeeded (not exhausted?)' };
    }
    const error = result.error;
    return {
      figures: { timeToError: result.at - started },
      errorClass: error instanceof Error ? error.constructor.name : typeof error,
      message: error instanceof Error ? error.message : String(error),
    };
  } finally {
    await held.close();
  }
}

/** Pool of 2, both connections held, a third acquire with a 100 ms acquire timeout. */
export const exhaustion: Workload = {
  id: 'exhaustion',
  async run(context) {
    const { settings } = context;
    const rounds = new Map<string, Figures[]>(context.libraries.map((l) => [l.name, []]));
    const text = new Map<string, Record<string, string>>();
    const pools = context.libraries.filter((l) => l.exhaust);
    for (const library of context.libraries) {
      if (!library.exhaust) text.set(library.name, { 'error class': '— (no pool)', message: '—' });
    }
    for (let round = 0; round < settings.exhaustionRounds; round++) {
      context.progress(`${this.id}: round ${round + 1}/${settings.exhaustionRounds}`);
      for (const library of rotated(pools, round)) {
        const outcome = await attemptOnce(library, context.url, settings.exhaustionCapMillis);
        rounds.get(library.name)?.push(outcome.figures);
        if (!text.has(library.name)) {
          text.set(library.name, { 'error class': outcome.errorClass, message: outcome.message });
        }
      }
    }
    return {
      id: this.id,
      title: `pool of 2 held, a third acquire with a ${EXHAUSTION_TIMEOUT_MILLIS} ms timeout`,
      description:
        `Each library's acquire timeout set to ${EXHAUSTION_TIMEOUT_MILLIS} ms where it has one; time from the ` +
        `third call to its rejection (median of ${settings.exhaustionRounds}), error class and message (first ` +
        `round). Observation stops after ${settings.exhaustionCapMillis} ms.`,
      metrics: [METRICS.timeToError],
      rounds,
      text,
      textColumns: ['error class', 'message'],
    };
  },
};
