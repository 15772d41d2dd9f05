/**
 * Savepoint names and statements. A name is unique within its transaction (`pg_scope_sp_<n>`, n counting the
 * savepoints the transaction opened), so a savepoint never shadows another: PostgreSQL would resolve a
 * repeated name to the innermost one.
 */
export function savepointName(n: number): string {
  return `pg_scope_sp_${n}`;
}

/** `SAVEPOINT <name>`. */
export function openSavepointSql(name: string): string {
  return `SAVEPOINT ${name}`;
}

/** `RELEASE SAVEPOINT <name>`. */
export function releaseSavepointSql(name: string): string {
  return `RELEASE SAVEPOINT ${name}`;
}

/** `ROLLBACK TO SAVEPOINT <name>`. */
export function rollbackToSavepointSql(name: string): string {
  return `ROLLBACK TO SAVEPOINT ${name}`;
}
