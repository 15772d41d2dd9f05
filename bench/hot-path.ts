/**
 * The hot path of one library, alone in a process, for a profiler: a fixed number of transfers, so two runs
 * that differ only in `--ops` give the cost of the extra transfers with start-up cancelled out.
 *
 *   tsx bench/hot-path.ts --lib pg-scope --mode seq --ops 2000
 *   node --cpu-prof --import tsx bench/hot-path.ts --lib pg-pool --mode conc --ops 20000
 *   valgrind --tool=callgrind node --import tsx bench/hot-path.ts ...   (instruction counts: steady on a busy host)
 *
 * Modes: `seq` (one worker), `conc` (32 workers on a pool of 10), `over` (bursts of 2,000 callers on a pool of
 * 10). Libraries: the ids of `npm run bench` (`--libs`). Needs DATABASE_URL; only `bench_*` tables are touched.
 * With PG_SCOPE_BENCH_REUSE=1, pg-scope is not compiled again when a compiled copy exists.
 */
import { parseArgs } from 'node:util';
import { openDatabase } from './database.js';
import { libraries } from './libraries/index.js';
import type { BenchClient } from './libraries/types.js';
import { runBurst } from './measure.js';
import { CONC_WORKERS, POOL_SIZE } from './settings.js';
import { randomTransfer } from './sql.js';

const { values } = parseArgs({
  options: {
    lib: { type: 'string', default: 'pg-scope' },
    mode: { type: 'string', default: 'seq' },
    ops: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '500' },
  },
  strict: true,
});
const library = libraries.find((l) => l.id === values.lib);
if (!library)
  throw new Error(`unknown library '${values.lib}'; known: ${libraries.map((l) => l.id).join(', ')}`);
if (!process.env.DATABASE_URL) throw new Error('set DATABASE_URL');
const mode = values.mode;
const workers = mode === 'seq' ? 1 : mode === 'conc' ? CONC_WORKERS : 2_000;

/** Runs `count` transfers in the mode's shape. */
async function transfers(count: number, client: BenchClient): Promise<void> {
  const op = () => client.transfer(randomTransfer());
  if (mode === 'over') {
    for (let done = 0; done < count; done += workers) await runBurst(Math.min(workers, count - done), op);
    return;
  }
  let left = count;
  const loop = async () => {
    while (left > 0) {
      left--;
      await op();
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, count) }, loop));
}

const db = await openDatabase();
const client = await library.open({ url: db.url, max: POOL_SIZE, workers });
try {
  await transfers(Number(values.warmup), client);
  const ops = Number(values.ops);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await transfers(ops, client);
  const wall = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  process.stdout.write(
    `${library.id} ${mode}: ${ops} transfers, ${((cpu.user + cpu.system) / ops).toFixed(1)} µs CPU each, ` +
      `${wall.toFixed(0)} ms wall (user ${(cpu.user / ops).toFixed(1)}, system ${(cpu.system / ops).toFixed(1)})\n`,
  );
} finally {
  await client.close();
  await db.stop();
}
