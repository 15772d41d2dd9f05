import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

/** Socket writes made by this process (each `_write`/`_writev` is one write to the kernel). */
let writes = 0;
const write = net.Socket.prototype._write;
const writev = net.Socket.prototype._writev;

describe("a transaction's first flight goes out in one socket write", () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool({ ...db.config, max: 1 });
    await pool.query('select 1');
    net.Socket.prototype._write = function (this: net.Socket, ...args: Parameters<typeof write>) {
      writes++;
      return write.apply(this, args);
    };
    net.Socket.prototype._writev = function (
      this: net.Socket,
      ...args: Parameters<NonNullable<typeof writev>>
    ) {
      writes++;
      return writev?.apply(this, args);
    };
  });

  afterAll(async () => {
    net.Socket.prototype._write = write;
    net.Socket.prototype._writev = writev;
    await pool?.close();
    await db?.drop();
  });

  it('BEGIN and the first statement leave together: 2 writes for a one-statement transaction', async () => {
    writes = 0;
    await pool.transaction(async (tx) => {
      await tx.query('select $1::int as n', [1]);
    });
    // The first flight (BEGIN + Parse/Bind/Describe/Execute/Sync), then COMMIT.
    expect(writes).toBe(2);
  });

  it('with transaction-local settings too: the settings statement rides in the same write', async () => {
    writes = 0;
    await pool.transaction(
      async (tx) => {
        await tx.query('select $1::int as n', [1]);
        await tx.query('select 2');
      },
      { settings: { statement_timeout: '5s' } },
    );
    expect(writes).toBe(3);
  });
});
