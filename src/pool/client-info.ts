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
  /** Times the connection was lent to a scope (see `maxUses`). */
  uses: number;
  /** Its named statements, with `prepare: true`. */
  readonly statements: StatementCache | undefined;
}
