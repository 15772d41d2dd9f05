import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import type { StatementStats } from '../stats.js';

/**
 * Named statements that vanished (`26000` for a statement the connection had prepared, `42P05` for one it
 * had not) before the pool turns `prepare` off. A direct connection loses its statements only to a
 * `DEALLOCATE ALL` or `DISCARD ALL`, and the ones sent through the pool are seen and never counted; a pooler
 * in transaction mode that does not keep named statements (PgBouncer before 1.21, or 1.21+ with
 * `max_prepared_statements = 0`) makes them vanish on nearly every statement.
 */
export const VANISH_LIMIT = 3;

/** The statement name for `text`: the same on every connection (and in every process) for the same text. */
export function statementName(text: string): string {
  return `pgs_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
}

/**
 * What the pool's connections share about their statement caches: the size bound, whether named statements
 * are still used, and the totals `stats()` reports.
 */
export class StatementPolicy {
  /** Statements each connection keeps (`statementCacheSize`). */
  readonly capacity: number;
  readonly #log: Logger;
  #enabled = true;
  #vanished = 0;
  prepared = 0;
  hits = 0;
  misses = 0;
  evictions = 0;
  recoveries = 0;

  constructor(capacity: number, log: Logger) {
    this.capacity = capacity;
    this.#log = log;
  }

  /** Names of the pool's own statements (BEGIN, the transaction id): a few texts, each hashed once. */
  readonly #ownNames = new Map<string, string>();

  /** The name of the pool's own statement `text` (see {@link statementName}). */
  ownName(text: string): string {
    let name = this.#ownNames.get(text);
    if (name === undefined) {
      name = statementName(text);
      this.#ownNames.set(text, name);
    }
    return name;
  }

  /** Whether statements with values are still sent named. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /**
   * A named statement vanished (`code`: `26000` or `42P05`). At {@link VANISH_LIMIT} the pool stops naming
   * statements and says so once at warn (`stmt.disabled`).
   */
  noteVanished(code: string): void {
    if (!this.#enabled || ++this.#vanished < VANISH_LIMIT) return;
    this.#enabled = false;
    if (this.#log.isLevelEnabled('warn')) {
      this.#log.warn(
        { event: LogEvent.stmtDisabled, vanished: this.#vanished, lastCode: code },
        `prepared statements turned off for this pool: ${this.#vanished} named statements vanished from ` +
          `their server connections (last SQLSTATE ${code}), as behind a pooler in transaction mode that does ` +
          'not keep them (PgBouncer before 1.21, or max_prepared_statements = 0). Set prepare: false for this ' +
          'pool, or max_prepared_statements > 0 on PgBouncer 1.21+',
      );
    }
  }

  /** A snapshot of the totals. */
  stats(): StatementStats {
    const sent = this.hits + this.misses;
    return {
      enabled: this.#enabled,
      prepared: this.prepared,
      hits: this.hits,
      misses: this.misses,
      hitRatio: sent === 0 ? 0 : this.hits / sent,
      evictions: this.evictions,
      recoveries: this.recoveries,
    };
  }
}
