import type { TargetSessionAttrs } from './hosts.js';

/** What a server session is, as `target_session_attrs` judges it. */
export interface SessionRole {
  /** The server is a hot standby (in recovery). */
  readonly standby: boolean;
  /** New transactions are read-only by default (a standby, or `default_transaction_read_only` on). */
  readonly readOnly: boolean;
}

/**
 * The role from the server's startup report (PostgreSQL 14+ reports `in_hot_standby` and
 * `default_transaction_read_only`), or undefined when the server did not report them (older servers: ask
 * with {@link ROLE_QUERY}).
 */
export function roleFromParameters(parameters: ReadonlyMap<string, string>): SessionRole | undefined {
  const hotStandby = parameters.get('in_hot_standby');
  const readOnly = parameters.get('default_transaction_read_only');
  if (hotStandby === undefined || readOnly === undefined) return undefined;
  const standby = hotStandby === 'on';
  return { standby, readOnly: standby || readOnly === 'on' };
}

/** The fallback for servers before 14: one round trip, as libpq makes (`SHOW transaction_read_only` and friends). */
export const ROLE_QUERY =
  "select pg_is_in_recovery() as standby, current_setting('transaction_read_only') = 'on' as read_only";

/** The role from {@link ROLE_QUERY}'s row. */
export function roleFromRow(row: { standby: boolean; read_only: boolean }): SessionRole {
  return { standby: row.standby, readOnly: row.standby || row.read_only };
}

/**
 * Whether a session with `role` is acceptable for `target`, as libpq decides it. `'prefer-standby'` accepts
 * only a standby here; the caller falls back to any server when no host is one.
 */
export function roleMatches(target: TargetSessionAttrs, role: SessionRole): boolean {
  switch (target) {
    case 'any':
      return true;
    case 'read-write':
      return !role.readOnly;
    case 'read-only':
      return role.readOnly;
    case 'primary':
      return !role.standby;
    case 'standby':
    case 'prefer-standby':
      return role.standby;
  }
}
