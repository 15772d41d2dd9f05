import type { Logger } from 'pino';

/** One warn line's content, built only when the line is written. */
export interface WarnLine {
  readonly fields: Record<string, unknown>;
  readonly msg: string;
}

/**
 * Aggregates a burst of the same warning into few lines: the first occurrence is written at once, the next
 * ones at most one line per `intervalMillis`, each carrying `count` (occurrences since the previous line,
 * itself included) and describing the latest one. The line owed for a burst that has ended is written by a
 * timer that does not keep the process alive, or by {@link flush}.
 */
export class WarnThrottle {
  readonly #log: Logger;
  readonly #intervalMillis: number;
  #lastAt = Number.NEGATIVE_INFINITY;
  #pending = 0;
  #latest: (() => WarnLine) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, intervalMillis = 1_000) {
    this.#log = log;
    this.#intervalMillis = intervalMillis;
  }

  /** Records one occurrence; `line` builds its content if it is the one written. */
  note(line: () => WarnLine): void {
    if (!this.#log.isLevelEnabled('warn')) return;
    const now = performance.now();
    this.#pending++;
    this.#latest = line;
    if (this.#timer === undefined && now - this.#lastAt >= this.#intervalMillis) {
      this.flush();
      return;
    }
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.flush(), this.#lastAt + this.#intervalMillis - now);
      this.#timer.unref();
    }
  }

  /** Writes the line owed for occurrences not yet written, if any, and stops the timer. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const latest = this.#latest;
    if (this.#pending === 0 || !latest) return;
    const count = this.#pending;
    this.#pending = 0;
    this.#latest = undefined;
    this.#lastAt = performance.now();
    const { fields, msg } = latest();
    this.#log.warn({ ...fields, count }, count === 1 ? msg : `${msg} (${count} times since the last line)`);
  }
}
