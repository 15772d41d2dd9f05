import type pg from 'pg';
import type { DestroyReason } from '../logging/events.js';
import type { ConnectionFactory } from './connection-factory.js';
import { unusableReason } from './destroy-reason.js';
import type { IdleStore } from './idle-store.js';
import type { Lease } from './lease.js';
import { WarmIdle } from './warm-idle.js';

/**
 * Where a connection goes that no caller takes: kept warm for the rest of the macrotask, back to the idle
 * store, or destroyed through the store with a typed reason that the store's destroy hook logs.
 */
export class IdleReturns {
  readonly #store: IdleStore;
  readonly #factory: ConnectionFactory;
  readonly #closing: () => boolean;
  /** Connections given back in this macrotask while nobody waited, for the next caller to take at once. */
  readonly warm = new WarmIdle((client) => this.release(client));
  /** Why the pool destroys a connection (and for which scope), for the store's destroy hook to log. */
  readonly #destroyReasons = new WeakMap<pg.Client, { reason: DestroyReason; lease: Lease | undefined }>();
  readonly #dispatch: () => void;

  /**
   * `closing`: true once the pool is closing; `dispatch`: the store took a connection back or let one go, so
   * waiting callers may be served now.
   */
  constructor(store: IdleStore, factory: ConnectionFactory, closing: () => boolean, dispatch: () => void) {
    this.#store = store;
    this.#factory = factory;
    this.#closing = closing;
    this.#dispatch = dispatch;
  }

  /** A connection nobody waits for: warm until the macrotask ends (to the store at once while closing). */
  park(client: pg.Client): void {
    if (this.#closing()) this.release(client);
    else this.warm.push(client);
  }

  /** Hands the warm connections to the store now (callers wait: the store serves them). */
  flushWarm(): void {
    if (this.warm.size > 0) this.warm.flush();
  }

  /** Gives a connection back to the store as idle. */
  release(client: pg.Client): void {
    this.#factory.markIdle(client, true);
    this.#store.release(client).then(this.#dispatch, () => {
      // Not a loan of the store (cannot happen by construction); nothing to give back.
    });
  }

  /** Destroys a connection lent by the store, for `reason` (logged with `lease`'s scope). */
  destroy(client: pg.Client, reason: DestroyReason, lease?: Lease): void {
    this.#destroyReasons.set(client, { reason, lease });
    this.#store.destroy(client).then(this.#dispatch, () => {
      // Not a loan of the store (cannot happen by construction).
    });
  }

  /** The store's destroy hook: closes the connection, logged with the reason given, or why it is unusable. */
  closeForStore(client: pg.Client): Promise<void> {
    const why = this.#destroyReasons.get(client);
    const reason = why?.reason ?? unusableReason(this.#factory.info(client), this.#closing(), 'idle');
    return this.#factory.destroy(client, reason, why?.lease);
  }
}
