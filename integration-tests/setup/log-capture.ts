import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, pino } from 'pino';

/** One parsed log line. */
export interface LogRecord {
  level: number;
  msg?: string;
  event?: string;
  pool?: string;
  scopeId?: string;
  txId?: string;
  [field: string]: unknown;
}

/** pino's numeric levels, as they appear in a line's `level` field. */
export const Level = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A pino logger writing into memory, and ways to look at what it wrote. */
export interface LogCapture {
  /** Pass this as the pool's `logger`. */
  readonly logger: Logger;
  /** Every line written so far, as written (JSON text). */
  readonly lines: string[];
  /** Every line written so far, parsed. */
  records(): LogRecord[];
  /** The lines whose `event` is `event`. */
  events(event: string): LogRecord[];
  /**
   * Resolves with the first line with `event` (and matching `where`, if given) once it is written; rejects
   * after `timeoutMillis` naming the events seen.
   */
  waitFor(event: string, where?: (r: LogRecord) => boolean, timeoutMillis?: number): Promise<LogRecord>;
  /** Forgets every line written so far. */
  clear(): void;
}

/** A pino logger at `level` (default debug) whose output stays in memory, one entry per line. */
export function captureLogs(level = 'debug'): LogCapture {
  const lines: string[] = [];
  const destination = {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line !== '') lines.push(line);
    },
  };
  const logger = pino({ level }, destination);
  const records = () => lines.map((line) => JSON.parse(line) as LogRecord);
  const events = (event: string) => records().filter((r) => r.event === event);
  return {
    logger,
    lines,
    records,
    events,
    async waitFor(event, where = () => true, timeoutMillis = 5_000) {
      const deadline = performance.now() + timeoutMillis;
      for (;;) {
        const found = events(event).find(where);
        if (found) return found;
        if (performance.now() >= deadline) {
          const seen = [...new Set(records().map((r) => r.event))].join(', ');
          throw new Error(`no '${event}' line within ${timeoutMillis} ms; events seen: ${seen}`);
        }
        await sleep(10);
      }
    },
    clear() {
      lines.length = 0;
    },
  };
}
