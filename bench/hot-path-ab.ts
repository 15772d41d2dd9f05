/**
 * Two compiled copies of pg-scope and a hand-written pg.Pool in one process, measured in alternating blocks of
 * transfers, so that load on a shared machine falls on all three alike. Prints the median CPU per transfer and
 * the median of the per-block ratios.
 *
 *   npx tsc -p tsconfig.build.json --outDir node_modules/.cache/pg-scope-a --declaration false   (the old code)
 *   npx tsc -p tsconfig.build.json --outDir node_modules/.cache/pg-scope-b --declaration false   (the new code)
 *   DATABASE_URL=... tsx bench/hot-path-ab.ts seq 400        (or: conc 2000 — 32 workers on pools of 10)
 *
 * Only `bench_*` tables are touched (made if missing, left in place).
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { transferOnPool } from './libraries/pg-pool.js';
import type { PgScopeModule } from './pg-scope-build.js';
import { INSERT_LEDGER, randomTransfer, UPDATE_BALANCE } from './sql.js';

const url = process.env.DATABASE_URL;
if (!url) throw new Error('set DATABASE_URL');
const mode = process.argv[2] ?? 'seq';
const perBlock = Number(process.argv[3] ?? 400);
const workers = mode === 'seq' ? 1 : 32;
const cache = resolve(import.meta.dirname, '..', 'node_modules', '.cache');
const load = async (dir: string) =>
  (await import(pathToFileURL(join(cache, dir, 'index.js')).href)) as PgScopeModule;
const copies = { a: await load('pg-scope-a'), b: await load('pg-scope-b') };

const setup = new pg.Client({ connectionString: url });
await setup.connect();
await setup.query(
  'CREATE TABLE IF NOT EXISTS bench_accounts (id integer PRIMARY KEY, balance bigint NOT NULL)',
);
await setup.query(
  'CREATE TABLE IF NOT EXISTS bench_ledger (id bigserial PRIMARY KEY, from_id integer NOT NULL, ' +
    'to_id integer NOT NULL, amount bigint NOT NULL, at timestamptz NOT NULL DEFAULT now())',
);
await setup.query(
  'INSERT INTO bench_accounts SELECT g, 1000000 FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING',
);
await setup.end();

const pools = {
  a: copies.a.createPool({ connectionString: url, max: 10 }),
  b: copies.b.createPool({ connectionString: url, max: 10 }),
};
const hand = new pg.Pool({ connectionString: url, max: 10 });
type Name = 'a' | 'b' | 'hand';
const transfer: Record<Name, () => Promise<void>> = {
  hand: () => transferOnPool(hand, randomTransfer()),
  a: () => scoped(pools.a),
  b: () => scoped(pools.b),
};
function scoped(pool: (typeof pools)['a']): Promise<void> {
  const t = randomTransfer();
  return pool.transaction(async (tx) => {
    await tx.query(UPDATE_BALANCE, [t.firstDelta, t.firstId]);
    await tx.query(UPDATE_BALANCE, [t.secondDelta, t.secondId]);
    await tx.query(INSERT_LEDGER, [t.from, t.to, t.amount]);
  });
}

const cpu: Record<Name, number[]> = { a: [], b: [], hand: [] };
async function block(name: Name): Promise<void> {
  let left = perBlock;
  const before = process.cpuUsage();
  const loop = async () => {
    while (left-- > 0) await transfer[name]();
  };
  await Promise.all(Array.from({ length: workers }, loop));
  const used = process.cpuUsage(before);
  cpu[name].push((used.user + used.system) / perBlock);
}
const names: Name[] = ['a', 'b', 'hand'];
for (const name of names) await block(name); // warm-up, not counted
for (const name of names) cpu[name].length = 0;
for (let round = 0; round < 8; round++) {
  for (let i = 0; i < names.length; i++) await block(names[(i + round) % names.length] as Name);
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;
const ratio = (x: Name, y: Name) => median(cpu[x].map((v, i) => v / (cpu[y][i] ?? Number.NaN))).toFixed(3);
for (const name of names)
  process.stdout.write(`${name}: ${median(cpu[name]).toFixed(1)} µs CPU per transfer\n`);
process.stdout.write(`b/hand ${ratio('b', 'hand')}, a/hand ${ratio('a', 'hand')}, b/a ${ratio('b', 'a')}\n`);
await Promise.all([pools.a.close(), pools.b.close(), hand.end()]);
