/**
 * The scope lifecycle: enter, work, exit — Python's `async with` (`__aenter__` / `__aexit__`) in TypeScript.
 *
 *   async with pool.acquire() as conn:          await pool.acquire(async (conn) => { ... })
 *       await conn.fetch(...)                    await using conn = await pool.acquire();
 *
 * Both forms lend one connection of the pool to a block and give it back when the block ends, however it
 * ends. Run it: `npm run example scope-lifecycle`.
 */
import { createPool } from '../src/index.js'; // in your project: from 'pg-scope'

export async function main(connectionString: string) {
  // `await using` on the pool itself: it is closed (connections ended) when main() returns or throws.
  await using pool = createPool({ connectionString, max: 5 });

  // Callback form. Enter: acquire lends a connection. Work: the callback. Exit: when the callback settles,
  // the connection goes back to the pool, and acquire resolves with the callback's value (or rejects with
  // its error).
  const answer = await pool.acquire(async (conn) => {
    const { rows } = await conn.query<{ answer: number }>('select $1::int * 7 as answer', [6]);
    return rows[0]?.answer;
  });
  console.log(`callback form: answer ${answer}; borrowed now: ${pool.stats().borrowed}`);

  // `await using` form. The connection is given back when the enclosing block ends (Symbol.asyncDispose),
  // on a return, a break or a throw alike.
  let borrowedInside = 0;
  {
    await using conn = await pool.acquire();
    await conn.query('select 1');
    borrowedInside = pool.stats().borrowed;
    console.log(`await using form: inside the block, borrowed: ${borrowedInside}`);
  }
  const after = pool.stats();
  console.log(`after the block: borrowed ${after.borrowed}, idle ${after.idle}`);

  // For one statement there is no need for a scope: pool.query acquires and releases around it.
  const { rows } = await pool.query<{ db: string }>('select current_database() as db');
  console.log(`pool.query ran in database ${rows[0]?.db}`);

  return { answer, borrowedInside, borrowedAfter: after.borrowed, acquired: pool.stats().acquired };
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
