import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createIdleStore } from './idle-store.js';

const fakeClient = (n: number) => ({ n }) as unknown as pg.Client;

function store(min = 0) {
  const destroyed: pg.Client[] = [];
  const s = createIdleStore(
    {
      createForMin: () => Promise.reject(new Error('no min connections in this test')),
      destroy: async (client) => {
        destroyed.push(client);
      },
      createError: () => {},
    },
    { max: 2, min, idleTimeoutMillis: Number.POSITIVE_INFINITY },
  );
  s.start();
  return { s, destroyed };
}

describe('idle store (generic-pool)', () => {
  // The pool puts a connection it opened into generic-pool through create(), which generic-pool must call
  // synchronously inside acquire(). If an upgrade defers that call, this test fails.
  it('adopt(): generic-pool takes the connection synchronously inside acquire()', async () => {
    const { s } = store();
    const client = fakeClient(1);
    const { acquired, surplus } = s.adopt(client);
    expect(surplus).toBeUndefined();
    expect(s.leftovers()).toEqual([]);
    expect(await acquired).toBe(client);
    expect(s.size).toBe(1);
    await s.release(client);
    expect(s.available).toBe(1);
    await s.close();
  });

  it('adopt() with an idle connection: the store serves the idle one and the new one is surplus', async () => {
    const { s, destroyed } = store();
    const first = fakeClient(1);
    await s.adopt(first).acquired;
    await s.release(first);
    const second = fakeClient(2);
    const { acquired, surplus } = s.adopt(second);
    expect(surplus).toBe(second);
    expect(await acquired).toBe(first);
    await s.destroy(first);
    expect(destroyed).toEqual([first]);
    await s.close();
  });
});
