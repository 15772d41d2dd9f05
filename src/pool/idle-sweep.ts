import type pg from 'pg';
import type { IdleStore } from './idle-store.js';

/** What the sweep needs of the pool. */
export interface SweepHost {
  /** True once the pool is closing (close() cleans up instead). */
  readonly closing: boolean;
  /** Callers waiting (they take idle connections themselves, broken ones included, and skip those). */
  readonly waiting: number;
  /** Destroys a connection taken from the store if it broke or reached its lifetime; true when it did. */
  retireUnusable(client: pg.Client): boolean;
  /** Hands a healthy connection on as a returned one is handed on. */
  deliver(client: pg.Client): void;
}

/**
 * A connection broke, or reached its lifetime: if it sits idle in the store, take it out now rather than at
 * the next acquire, so `stats()` (idle, size) tells the truth, `min` is kept with connections that may be
 * used, and no connection outlives `maxLifetimeMillis` for long. The store has no way to remove one idle
 * connection, so every idle connection not owed to a pending acquire is taken, the broken ones destroyed
 * and the rest handed on. Batched into one sweep per macrotask: pg reports one break twice.
 */
export class IdleSweep {
  readonly #store: IdleStore;
  readonly #host: SweepHost;
  #scheduled = false;

  constructor(store: IdleStore, host: SweepHost) {
    this.#store = store;
    this.#host = host;
  }

  /** Schedules a sweep (once, however many breaks are reported before it runs). */
  schedule(): void {
    if (this.#scheduled || this.#host.closing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#sweep();
    });
  }

  #sweep(): void {
    const store = this.#store;
    const host = this.#host;
    if (host.closing || host.waiting > 0) return;
    const taken: Promise<pg.Client>[] = [];
    for (let n = store.available - store.pending; n > 0; n--) taken.push(store.acquire());
    for (const acquired of taken) {
      acquired.then(
        (client) => {
          if (!host.retireUnusable(client)) host.deliver(client);
        },
        () => {
          // Only a closing store rejects; close() cleans up.
        },
      );
    }
  }
}
