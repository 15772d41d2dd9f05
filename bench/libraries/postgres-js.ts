import postgres from 'postgres';
import type { Transfer } from '../sql.js';
import { type BenchClient, holdTwo, type Library, type OpenConfig } from './types.js';

// The statements below are `sql.ts`'s texts written as tagged templates: postgres.js sends exactly
// `UPDATE bench_accounts SET balance = balance + $1 WHERE id = $2` (and so on) with bound values.

function connect(url: string, max: number, prepare: boolean) {
  return postgres(url, { max, prepare, onnotice: () => {} });
}

/** The same tagged-template calls, with or without postgres.js's named prepared statements. */
function postgresJsLibrary(prepare: boolean, id: string, name: string, usage: string): Library {
  return {
    id,
    name,
    usage,
    open: (config) => open(config, prepare),
    exhaust: (url) => exhaust(url, prepare),
  };
}

async function open(config: OpenConfig, prepare: boolean): Promise<BenchClient> {
  const sql = connect(config.url, config.max, prepare);
  return {
    async select1() {
      await sql`SELECT 1`;
    },
    async transfer(t: Transfer) {
      await sql.begin(async (tx) => {
        await tx`UPDATE bench_accounts SET balance = balance + ${t.firstDelta} WHERE id = ${t.firstId}`;
        await tx`UPDATE bench_accounts SET balance = balance + ${t.secondDelta} WHERE id = ${t.secondId}`;
        await tx`INSERT INTO bench_ledger (from_id, to_id, amount) VALUES (${t.from}, ${t.to}, ${t.amount})`;
      });
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

// postgres.js has no acquire timeout (`connect_timeout` bounds opening a connection, not waiting for one).
async function exhaust(url: string, prepare: boolean) {
  const sql = connect(url, 2, prepare);
  const held = await holdTwo(async (acquired, release) => {
    const reserved = await sql.reserve();
    acquired();
    await release;
    reserved.release();
  });
  return {
    async attempt() {
      await sql`SELECT 1`;
    },
    async close() {
      await held.release();
      await sql.end({ timeout: 5 });
    },
  };
}

/** postgres.js with its defaults (named prepared statements on), `sql.begin` for transactions. */
export const postgresJs = postgresJsLibrary(
  true,
  'postgres-js',
  'postgres.js',
  '`` sql`SELECT 1` ``, `sql.begin(sql => …)` with tagged templates; defaults (prepared statements on)',
);

/**
 * postgres.js with `prepare: false`: unnamed statements only, like pg-scope's defaults, so it works behind
 * any PgBouncer. The like-for-like peer.
 */
export const postgresJsUnprepared = postgresJsLibrary(
  false,
  'postgres-js-unprepared',
  'postgres.js (prepare: false)',
  'the same calls with `prepare: false` (unnamed statements, as pg-scope sends them)',
);
