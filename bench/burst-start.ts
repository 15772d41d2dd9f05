/**
 * How long the synchronous part of 2,000 calls made in one tick takes, per library, and when the first
 * transfer finishes: the start of the `oversubscribed` workload. Needs DATABASE_URL.
 *   npx tsx bench/burst-start.ts --lib pg-scope-prepared
 */
import { parseArgs } from 'node:util';
import { openDatabase } from './database.js';
import { libraries } from './libraries/index.js';
import { randomTransfer } from './sql.js';

const { values } = parseArgs({
  options: { lib: { type: 'string', default: 'pg-scope' }, rounds: { type: 'string', default: '5' } },
});
const library = libraries.find((l) => l.id === values.lib);
if (!library) throw new Error(`unknown library ${values.lib}`);
const db = await openDatabase();
const client = await library.open({ url: db.url, max: 10, workers: 2000 });
try {
  for (let r = 0; r < Number(values.rounds); r++) {
    let first = 0;
    const started = performance.now();
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 2000; i++) {
      calls.push(
        client.transfer(randomTransfer()).then(() => {
          if (first === 0) first = performance.now() - started;
        }),
      );
    }
    const sync = performance.now() - started;
    await Promise.all(calls);
    const wall = performance.now() - started;
    console.log(
      `${library.id}: sync ${sync.toFixed(1)} ms, first done ${first.toFixed(1)} ms, wall ${wall.toFixed(0)} ms`,
    );
  }
} finally {
  await client.close();
  await db.stop();
}
