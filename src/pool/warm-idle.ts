import type pg from 'pg';

/**
 * Connections given back while nobody waits, kept out of the idle store until the current macrotask ends:
 * a caller that comes next in the same burst of work (a loop of transactions, the next request) takes one at
 * once, without a round through the store's release and acquire. At the next macrotask whatever is left goes
 * to the store, which alone keeps idle connections beyond that (eviction, `min`, LIFO reuse).
 */
export class WarmIdle {
  readonly #clients: pg.Client[] = [];
  readonly #toStore: (client: pg.Client) => void;
  #scheduled = false;

  /** `toStore`: hands a connection left warm to the idle store. */
  constructor(toStore: (client: pg.Client) => void) {
    this.#toStore = toStore;
  }

  /** Connections kept warm now (idle, though the store counts them as lent). */
  get size(): number {
    return this.#clients.length;
  }

  /** Keeps a connection warm until the next macrotask. */
  push(client: pg.Client): void {
    this.#clients.push(client);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flush);
  }

  /** The connection given back last, or undefined. */
  pop(): pg.Client | undefined {
    return this.#clients.pop();
  }

  /** Hands every warm connection to the store now (the macrotask ended, or the pool is closing). */
  readonly #flush = (): void => {
    this.#scheduled = false;
    for (let client = this.#clients.pop(); client; client = this.#clients.pop()) this.#toStore(client);
  };

  /** Hands every warm connection to the store now. */
  flush(): void {
    this.#flush();
  }
}
