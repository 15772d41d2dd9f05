/** How long and how often each workload runs. */
export interface BenchSettings {
  readonly quick: boolean;
  /** Interleaved repetitions: every library runs once per round, in a rotated order. */
  readonly rounds: number;
  /** Rounds of the exhaustion workload. */
  readonly exhaustionRounds: number;
  /** Warm-up per library before the first round (connections opened, code optimised). */
  readonly warmupMillis: number;
  readonly select1Millis: number;
  readonly transferSeqMillis: number;
  readonly transferConcMillis: number;
  readonly delayedMillis: number;
  /** Callers of the `oversubscribed` workload. */
  readonly oversubscribedCallers: number;
  /** Callers of its warm-up burst (enough to open every connection of the pool). */
  readonly warmupCallers: number;
  /** How long the exhaustion workload waits for an error before it records that none came. */
  readonly exhaustionCapMillis: number;
  /** The delay proxy's hold per chunk, each way. */
  readonly delayMillis: number;
}

/** The full run: about 5 minutes on 2 cores. */
export const FULL: BenchSettings = {
  quick: false,
  rounds: 5,
  exhaustionRounds: 3,
  warmupMillis: 400,
  select1Millis: 800,
  transferSeqMillis: 1_200,
  transferConcMillis: 1_200,
  delayedMillis: 1_500,
  oversubscribedCallers: 2_000,
  warmupCallers: 200,
  exhaustionCapMillis: 2_000,
  delayMillis: 2,
};

/** `--quick`: every workload, briefly (a few seconds in all); the figures mean little. */
export const QUICK: BenchSettings = {
  quick: true,
  rounds: 1,
  exhaustionRounds: 1,
  warmupMillis: 20,
  select1Millis: 60,
  transferSeqMillis: 60,
  transferConcMillis: 60,
  delayedMillis: 100,
  oversubscribedCallers: 200,
  warmupCallers: 20,
  exhaustionCapMillis: 250,
  delayMillis: 2,
};

/** Pool size of every pool in the throughput workloads. */
export const POOL_SIZE = 10;
/** Workers of `transfer-conc`. */
export const CONC_WORKERS = 32;
/** The acquire timeout of the exhaustion workload. */
export const EXHAUSTION_TIMEOUT_MILLIS = 100;
