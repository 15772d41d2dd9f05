import type { BenchSettings } from '../settings.js';

/** Where and how a run happened, for the header of the results. */
export interface RunInfo {
  readonly date: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly node: string;
  readonly postgres: string;
  /** Where the server came from (`embedded` or `DATABASE_URL`). */
  readonly serverSource: string;
  readonly settings: BenchSettings;
  /** Seconds the whole run took. */
  readonly seconds: number;
  /** How pg-scope was loaded (compiled, or through the TypeScript loader). */
  readonly pgScopeSource: string;
  /** Library versions, by package name. */
  readonly versions: Readonly<Record<string, string>>;
}
