import pgPromise from 'pg-promise';
import { INSERT_LEDGER, SELECT_ONE, type Transfer, UPDATE_BALANCE } from '../sql.js';
import { type BenchClient, holdTwo, IDLE_MILLIS, type Library, type OpenConfig } from './types.js';

const pgp = pgPromise({ noWarnings: true });
const { ParameterizedQuery } = pgp;

// pg-promise formats `$1` into the text on the client by default; ParameterizedQuery sends the same text
// with bound values instead, as every other library here does.
const selectOne = new ParameterizedQuery({ text: SELECT_ONE });

function update(delta: number, id: number) {
  return new ParameterizedQuery({ text: UPDATE_BALANCE, values: [delta, id] });
}

/** pg-promise: `db.tx(t => …)` with ParameterizedQuery (server-side bind parameters). */
export const pgPromiseLib: Library = {
  id: 'pg-promise',
  name: 'pg-promise',
  usage:
    '`db.tx(t => …)`, `db.any(…)` with `ParameterizedQuery` (bind parameters, not client-side formatting)',
  async open(config: OpenConfig): Promise<BenchClient> {
    const db = pgp({ connectionString: config.url, max: config.max, idleTimeoutMillis: IDLE_MILLIS });
    return {
      async select1() {
        await db.any(selectOne);
      },
      async transfer(t: Transfer) {
        await db.tx(async (tx) => {
          await tx.none(update(t.firstDelta, t.firstId));
          await tx.none(update(t.secondDelta, t.secondId));
          await tx.none(new ParameterizedQuery({ text: INSERT_LEDGER, values: [t.from, t.to, t.amount] }));
        });
      },
      close: () => db.$pool.end(),
    };
  },
  async exhaust(url, acquireTimeoutMillis) {
    const db = pgp({ connectionString: url, max: 2, connectionTimeoutMillis: acquireTimeoutMillis });
    const held = await holdTwo((acquired, release) =>
      db.task(async () => {
        acquired();
        await release;
      }),
    );
    return {
      async attempt() {
        await db.any(selectOne);
      },
      async close() {
        await held.release();
        await db.$pool.end();
      },
    };
  },
};
