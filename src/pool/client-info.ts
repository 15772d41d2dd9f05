import type { StatementCache } from './statement-cache.js';

/** What the pool knows about each server connection it opened; kept beside the client, not on it. */
export interface ClientInfo {
  /** A short id for log lines. */
  readonly id: number;
  /** `performance.now()` when the connection opened. */
  readonly createdAt: number;
  /** `performance.now()` after which the connection is recycled (`maxLifetimeMillis` less jitter). */
  readonly expiresAt: number;
  /** Set when the connection broke (socket error, terminated backend): it must never be handed out again. */
  brokenBy: unknown;
  /** Queries sent through a scope handle and not yet answered. */
  inflight: number;
  /**
   * True while a BEGIN sent with statements pipelined behind it has not been answered. No cancel request may be
   * sent then: one that reached BEGIN would fail it, and the statements behind it, each with its own Sync, would
   * run and commit on their own, outside any transaction. Such a connection is closed without a cancel.
   */
  beginUnanswered: boolean;
  /**
   * True while a BEGIN sent in the Sync of the statement behind it has not been answered: that statement is
   * skipped if BEGIN fails, so {@link beginUnanswered} is off, until another statement is sent behind them in a
   * Sync of its own (the lease sets it again then).
   */
  beginCarried: boolean;
  /**
   * Set while a BEGIN carried as a named statement (`prepare: true`) is unanswered: the server may have lost
   * that statement, and then a statement sent behind it in a Sync of its own would run outside any
   * transaction. Statements sent meanwhile wait for it (see Lease#query); it resolves with BEGIN's error, if
   * BEGIN failed.
   */
  beginHold: Promise<unknown> | undefined;
  /** Times the connection was lent to a scope (see `maxUses`). */
  uses: number;
  /** Its named statements, with `prepare: true`. */
  readonly statements: StatementCache | undefined;
}
