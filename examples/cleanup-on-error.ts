/**
 * Cleanup that runs even when the block throws — like the classic Python `async with` file writer, whose file is
 * closed although the block raised. Here the connection goes back to the pool (or is destroyed if it may be
 * unsafe), a transaction is rolled back, and the block's error reaches the caller unchanged.
 * Run it: `npm run example cleanup-on-error`.
 */
import { type Connection, createPool, ScopeClosedError } from '../src/index.js'; // in your project: from 'pg-scope'

export async function main(connectionString: string) {
  await using pool = createPool({ connectionString, max: 2 });

  // 1. Callback form: the callback throws; acquire rejects with the very same error object, and the
  //    connection is already back in the pool when the caller catches it.
  const failure = new Error('report generation failed');
  let sameError = false;
  try {
    await pool.acquire(async (conn) => {
      await conn.query('select 1');
      throw failure;
    });
  } catch (error) {
    sameError = error === failure;
  }
  console.log(`callback form: same error object ${sameError}, borrowed ${pool.stats().borrowed}`);

  // 2. `await using` form: the block throws; the connection is given back before the catch block runs.
  try {
    await using conn = await pool.acquire();
    await conn.query('select 1');
    throw new Error('parsing failed');
  } catch (error) {
    console.log(`await using form: "${(error as Error).message}", borrowed ${pool.stats().borrowed}`);
  }

  // 3. A transaction scope rolls back what the block did before it threw.
  let rowsKept = -1;
  await pool.acquire(async (conn) => {
    await conn.query('create temporary table audit (note text)');
    await conn
      .transaction(async (tx) => {
        await tx.query("insert into audit values ('half of the work')");
        throw new Error('the other half failed');
      })
      .catch((error: unknown) => console.log(`transaction rolled back: ${(error as Error).message}`));
    const { rows } = await conn.query<{ n: number }>('select count(*)::int as n from audit');
    rowsKept = rows[0]?.n ?? -1;
    await conn.query('drop table audit');
  });
  console.log(`rows kept from the failed transaction: ${rowsKept}`);

  // 4. A block that sent BEGIN by hand and never finished: the pool rolls it back (logged at warn) before
  //    anyone else gets the connection.
  await pool
    .acquire(async (conn) => {
      await conn.query('begin');
      throw new Error('gave up inside a hand-written transaction');
    })
    .catch(() => {
      // Expected: this block fails on purpose.
    });
  const nextStatus = await pool.acquire((conn) => conn.client.getTransactionStatus());
  console.log(`the next borrower's connection is idle, not in a transaction: status '${nextStatus}'`);

  // 5. A handle kept after its scope ended refuses to work, without touching the pool or the server.
  let kept: Connection | undefined;
  await pool.acquire(async (conn) => {
    kept = conn;
  });
  const late = await kept?.query('select 1').catch((error: unknown) => error);
  const scopeClosed = late instanceof ScopeClosedError;
  console.log(`using the connection after its scope: ${scopeClosed ? late.code : 'no error?'}`);

  const { borrowed, idle } = pool.stats();
  return { sameError, borrowed, idle, rowsKept, nextStatus, scopeClosed };
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
