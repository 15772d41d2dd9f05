/** What `pool.stats()` returns, and the figures an exhaustion error carries. */

/** The statement cache's figures in `pool.stats().statements` (present when `prepare: true`). */
export interface StatementStats {
  /** False once the pool turned `prepare` off for itself (statements kept vanishing; see `stmt.disabled`). */
  readonly enabled: boolean;
  /** Named statements prepared now, summed over the pool's open connections. */
  readonly prepared: number;
  /** Statements sent under a name their connection had already prepared (Bind and Execute only). */
  readonly hits: number;
  /** Statements that had to be prepared on their connection first (Parse, Bind and Execute). */
  readonly misses: number;
  /** `hits / (hits + misses)`, 0 before any statement. */
  readonly hitRatio: number;
  /** Statements closed on the server to keep a connection's cache within `statementCacheSize`. */
  readonly evictions: number;
  /**
   * Statements whose cached name failed (`26000`, `0A000`, `42P05`): re-run once outside a transaction,
   * a retryable error inside one.
   */
  readonly recoveries: number;
}

/** A snapshot of the pool's counters, as returned by `pool.stats()`. */
export interface PoolStats {
  /** The configured upper bound on open connections. */
  readonly max: number;
  /** The configured number of connections kept open when idle. */
  readonly min: number;
  /** Open connections (idle + borrowed) plus connections being opened. */
  readonly size: number;
  /** Open connections waiting in the pool. */
  readonly idle: number;
  /** Connections currently lent to a scope. */
  readonly borrowed: number;
  /** Callers waiting for a connection. */
  readonly waiting: number;
  /** Successful acquires since the pool was created. */
  readonly acquired: number;
  /** Server connections opened since the pool was created. */
  readonly created: number;
  /** Server connections closed since the pool was created. */
  readonly destroyed: number;
  /** `PoolExhaustedError`s thrown since the pool was created. */
  readonly exhausted: number;
  /** Top-level transactions committed. */
  readonly commits: number;
  /** Top-level transactions rolled back. */
  readonly rollbacks: number;
  /**
   * How long the connection borrowed longest ago has been held so far, in milliseconds (0 when none is
   * borrowed): minutes here while the pool is exhausted usually means a scope that never ended (a leak).
   */
  readonly longestBorrowMillis: number;
  /** With `prepare: true`: the statement cache's figures (prepared now, hits and misses, hit ratio). */
  readonly statements?: StatementStats;
  /** With `replicas`: each replica pool's own counters, in the configured order. */
  readonly replicas?: readonly PoolStats[];
}

/** The borrow that has lasted longest when a `PoolExhaustedError` was made. */
export interface LongestBorrow {
  /** The scope holding the connection, as in log lines (`scopeId`). */
  readonly scopeId: string;
  /** Where that connection was acquired: captured only when `leakDetectionMillis` > 0. */
  readonly stack: string | undefined;
}

/** What a pool shows of itself in `JSON.stringify` and `util.inspect`: never its settings. */
export interface PoolSummary {
  /** The pool's name (as in its log lines). */
  name: string;
  /** Whether `close()` was called. */
  closed: boolean;
  /** `stats()` at the time of the call. */
  stats: PoolStats;
}
