import { createPool as createGenericPool, type Pool as GenericPool } from 'generic-pool';
import type pg from 'pg';

/**
 * Where idle connections wait: LIFO reuse, idle eviction and `min`. The pool owns everything a caller waits
 * for; the store only keeps what is not lent. The one module that imports generic-pool.
 */
export interface IdleStore {
  /** Connections the store counts: idle, lent through it, and being opened for `min`. */
  readonly size: number;
  /** Idle connections. */
  readonly available: number;
  /** Store acquires not yet served. */
  readonly pending: number;
  /** Starts keeping `min` and evicting idle connections. */
  start(): void;
  /** Takes an idle connection (or waits for one the store opens for `min`). */
  acquire(): Promise<pg.Client>;
  /**
   * Enters a connection the pool opened itself, lent at once: resolves with it, or — when the store served the
   * acquire from an idle connection instead — with that one, and `surplus` is then the pool's connection.
   */
  adopt(client: pg.Client): { acquired: Promise<pg.Client>; surplus: pg.Client | undefined };
  /** Takes back a lent connection as idle. */
  release(client: pg.Client): Promise<void>;
  /** Takes back a lent connection and closes it (through the `destroy` hook). */
  destroy(client: pg.Client): Promise<void>;
  /** Connections handed to {@link adopt} that the store never took (none, unless generic-pool changed). */
  leftovers(): pg.Client[];
  /** Stops eviction and closes every idle connection. */
  close(): Promise<void>;
}

/** What the store calls back. */
export interface IdleStoreHooks {
  /** Opens a connection to keep `min`; may reject (the store then emits `createError`). */
  createForMin(): Promise<pg.Client>;
  /** Closes a connection the store lets go of (destroyed by the pool, evicted, or cleared at close). */
  destroy(client: pg.Client): Promise<void>;
  /** A `createForMin()` attempt failed. */
  createError(err: unknown): void;
}

/** How the store keeps its connections. */
export interface IdleStoreOptions {
  readonly max: number;
  readonly min: number;
  /** Idle connections above `min` are closed after this long (Infinity: never). */
  readonly idleTimeoutMillis: number;
}

/**
 * The generic-pool store. `adopt()` relies on generic-pool calling the factory's `create()` synchronously
 * inside `acquire()` when it has room and no idle resource (3.x: `acquire` → `_dispense` → `_createResource`);
 * generic-pool documents no other way to put a resource in. It is kept here alone, and `idle-store.test.ts`
 * fails if an upgrade changes it.
 */
export function createIdleStore(hooks: IdleStoreHooks, options: IdleStoreOptions): IdleStore {
  const handoff: pg.Client[] = [];
  const idle = options.idleTimeoutMillis;
  const store: GenericPool<pg.Client> = createGenericPool<pg.Client>(
    {
      create: () => {
        const ready = handoff.shift();
        return ready ? Promise.resolve(ready) : hooks.createForMin();
      },
      destroy: (client) => hooks.destroy(client),
    },
    {
      max: options.max,
      min: options.min,
      fifo: false,
      // Started by start(): with `min` > 0 starting calls create() at once, and createForMin() may read the
      // caller's reference to this store.
      autostart: false,
      idleTimeoutMillis: Number.MAX_SAFE_INTEGER,
      softIdleTimeoutMillis: idle === Number.POSITIVE_INFINITY ? -1 : idle,
      // generic-pool unrefs its eviction timer itself (3.x, not an option): it never keeps the process alive,
      // which integration-tests/exit-on-idle.test.ts relies on.
      evictionRunIntervalMillis:
        idle === Number.POSITIVE_INFINITY ? 0 : Math.max(10, Math.min(1_000, idle / 2)),
      numTestsPerEvictionRun: options.max,
    },
  );
  store.on('factoryCreateError', (err) => hooks.createError(err));
  return {
    start() {
      void store.start();
    },
    get size() {
      return store.size;
    },
    get available() {
      return store.available;
    },
    get pending() {
      return store.pending;
    },
    acquire: () => store.acquire(),
    adopt(client) {
      handoff.push(client);
      const acquired = store.acquire();
      const at = handoff.indexOf(client);
      if (at < 0) return { acquired, surplus: undefined };
      handoff.splice(at, 1);
      return { acquired, surplus: client };
    },
    release: (client) => store.release(client),
    destroy: (client) => store.destroy(client),
    leftovers: () => handoff.splice(0),
    async close() {
      await store.drain();
      await store.clear();
    },
  };
}
