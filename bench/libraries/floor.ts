import pg from 'pg';
import { INSERT_LEDGER, SELECT_ONE, type Transfer, UPDATE_BALANCE } from '../sql.js';
import { type BenchClient, type Library, maxBareClients, type OpenConfig } from './types.js';

/**
 * The floor: pre-connected `pg.Client`s and nothing else — one per worker, or, when there are more callers
 * than {@link maxBareClients}, `max` clients handed out by a plain FIFO free list (no timeouts, no checks).
 * Every ratio in the results is relative to it.
 */
export const floor: Library = {
  id: 'floor',
  name: 'pg.Client (floor)',
  usage:
    'pre-connected `pg.Client`s, no pool: one per worker (32 for `transfer-conc`), or 10 behind a bare FIFO ' +
    'free list for `oversubscribed`; BEGIN/…/COMMIT by hand',
  floor: true,
  async open(config: OpenConfig): Promise<BenchClient> {
    const count = config.workers <= maxBareClients ? config.workers : config.max;
    const clients = await Promise.all(
      Array.from({ length: count }, async () => {
        const client = new pg.Client({ connectionString: config.url });
        client.on('error', () => {
          // A bare client has no pool to report to; the next query on it fails loudly instead.
        });
        await client.connect();
        return client;
      }),
    );
    const free = new FreeList(clients);
    return {
      async select1() {
        const client = await free.take();
        try {
          await client.query(SELECT_ONE);
        } finally {
          free.give(client);
        }
      },
      async transfer(t: Transfer) {
        const client = await free.take();
        try {
          await client.query('BEGIN');
          try {
            await client.query(UPDATE_BALANCE, [t.firstDelta, t.firstId]);
            await client.query(UPDATE_BALANCE, [t.secondDelta, t.secondId]);
            await client.query(INSERT_LEDGER, [t.from, t.to, t.amount]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw err;
          }
        } finally {
          free.give(client);
        }
      },
      async close() {
        await Promise.all(clients.map((c) => c.end()));
      },
    };
  },
};

/** The least a shared set of clients needs: an array of free ones and a FIFO of callers waiting. */
class FreeList {
  readonly #free: pg.Client[];
  readonly #waiting: Array<(client: pg.Client) => void> = [];
  #head = 0;

  constructor(clients: pg.Client[]) {
    this.#free = [...clients];
  }

  take(): Promise<pg.Client> | pg.Client {
    const client = this.#free.pop();
    if (client) return client;
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  give(client: pg.Client): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head];
      this.#waiting[this.#head++] = undefined as never;
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
      next?.(client);
      return;
    }
    this.#free.push(client);
  }
}
