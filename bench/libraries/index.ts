import { floor } from './floor.js';
import { genericPool } from './generic-pool.js';
import { kysely } from './kysely.js';
import { pgPool } from './pg-pool.js';
import { pgPromiseLib } from './pg-promise.js';
import { pgScope, pgScopeNoResolve, pgScopePrepared } from './pg-scope.js';
import { postgresJs, postgresJsUnprepared } from './postgres-js.js';
import { slonik } from './slonik.js';
import type { Library } from './types.js';

/** Every library in the run, the floor first (the tables keep this order). */
export const libraries: readonly Library[] = [
  floor,
  pgScope,
  pgScopePrepared,
  pgScopeNoResolve,
  pgPool,
  genericPool,
  postgresJs,
  postgresJsUnprepared,
  kysely,
  pgPromiseLib,
  slonik,
];
