import type { Library } from '../libraries/types.js';
import type { Figures } from '../measure.js';
import type { BenchSettings } from '../settings.js';

/** A column of a workload's table. */
export interface MetricSpec {
  /** Key in {@link Figures}. */
  readonly key: string;
  readonly label: string;
  /** Decimals shown. */
  readonly digits: number;
  /** Which way is better (decides the "best peer" and the chart). */
  readonly better: 'higher' | 'lower';
  /** Show the ratio to the floor beside the figure. */
  readonly ratio: boolean;
}

/** What one workload measured. */
export interface WorkloadResult {
  readonly id: string;
  /** Heading after the id. */
  readonly title: string;
  /** One paragraph: what runs, on how many workers and connections. */
  readonly description: string;
  readonly metrics: readonly MetricSpec[];
  /** Every library's figures, one entry per round (empty for a library the workload does not apply to). */
  readonly rounds: ReadonlyMap<string, readonly Figures[]>;
  /** Text columns, by library (the exhaustion workload's error class and message). */
  readonly text?: ReadonlyMap<string, Readonly<Record<string, string>>>;
  /** Text column labels, in order. */
  readonly textColumns?: readonly string[];
}

/** What a workload gets to run. */
export interface RunContext {
  /** The server's URL. */
  readonly url: string;
  readonly libraries: readonly Library[];
  readonly settings: BenchSettings;
  /** Progress line on stderr. */
  progress(message: string): void;
}

/** One workload. */
export interface Workload {
  readonly id: string;
  run(context: RunContext): Promise<WorkloadResult>;
}
