import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { transactionPerRequest } from '../src/adapters/express.js';
import { createPool, type Pool, type PoolConfig, PoolExhaustedError } from '../src/index.js';
import { captureLogs, type LogCapture } from './setup/log-capture.js';
import { type ReplicationNode, type ReplicationSet, startReplicationSet } from './support/replication-set.js';

// Read replicas against real streaming replication: a PostgreSQL 18 primary and two standbys (see
// support/replication-set.ts). Where a scope ran is read inside it: pg_is_in_recovery() and inet_server_port().

interface Where {
  recovery: boolean;
  port: number;
}
const WHERE = 'select pg_is_in_recovery() as recovery, inet_server_port() as port';

describe('replicas', () => {
  let set: ReplicationSet;
  let db: string;
  let s1: ReplicationNode;
  let s2: ReplicationNode;
  let logs: LogCapture;
  const pools: Pool[] = [];

  beforeAll(async () => {
    set = await startReplicationSet({ standbys: 2, maxConnections: 80 });
    [s1, s2] = set.standbys as [ReplicationNode, ReplicationNode];
    db = await set.createDatabase();
    await set.primary.admin('create table items (id serial primary key, note text)', [], db);
    for (const s of set.standbys) await set.waitForReplay(s);
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
    for (const s of set.standbys) {
      if (!s.running) await s.start();
      await s.admin('select pg_wal_replay_resume()').catch(() => undefined);
    }
  });
  afterAll(async () => {
    await set?.destroy();
  });

  const poolWith = (extra: PoolConfig = {}, replicaMax = 5): Pool => {
    logs = captureLogs('debug');
    const pool = createPool({
      connectionString: set.primary.url(db),
      application_name: 'replicas-test',
      replicas: [s1, s2].map((s) => ({ connectionString: s.url(db), max: replicaMax })),
      max: 5,
      logger: logs.logger,
      ...extra,
    });
    pools.push(pool);
    return pool;
  };
  const standbyPorts = () => new Set([s1.port, s2.port]);

  it('runs read-only scopes on a standby (all three forms) and everything else on the primary', async () => {
    const pool = poolWith();
    const read = await pool.transaction(async (tx) => (await tx.query<Where>(WHERE)).rows[0], {
      readOnly: true,
    });
    expect(read?.recovery).toBe(true);
    expect(standbyPorts().has(read?.port as number)).toBe(true);
    {
      await using tx = await pool.transaction({ readOnly: true });
      expect((await tx.query<Where>(WHERE)).rows[0]?.recovery).toBe(true);
      await tx.commit();
    }
    const acquired = await pool.acquire(async (conn) => (await conn.query<Where>(WHERE)).rows[0], {
      readOnly: true,
    });
    expect(acquired?.recovery).toBe(true);
    const write = await pool.transaction(
      async (tx) =>
        (await tx.query<Where>(`insert into items (note) values ('w') returning ${WHERE.slice(7)}`)).rows[0],
    );
    expect(write).toEqual({ recovery: false, port: set.primary.port });
    expect((await pool.query<Where>(WHERE)).rows[0]?.recovery).toBe(false);
    // A read-only scope inside a read-write one runs on the primary, in it.
    const inner = await pool.transaction(async () =>
      pool.transaction(async (tx) => (await tx.query<Where>(WHERE)).rows[0], {
        readOnly: true,
        propagation: 'requiresNew',
      }),
    );
    expect(inner?.recovery).toBe(false);

    // Least-borrowed with ties taken in turn: sequential reads use both standbys.
    const ports = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const r = await pool.transaction(async (tx) => (await tx.query<Where>(WHERE)).rows[0], {
        readOnly: true,
      });
      ports.add(r?.port as number);
    }
    expect(ports).toEqual(standbyPorts());
    const stats = pool.stats();
    expect(stats.replicas).toHaveLength(2);
    expect((stats.replicas ?? []).every((r) => r.acquired > 0 && r.max === 5)).toBe(true);
  });

  it('reads your writes while the standbys’ replay is paused', async () => {
    const pool = poolWith();
    await pool.query('select 1'); // the health checks have run once the first read-only scope is routed
    await pool.transaction(async () => undefined, { readOnly: true });
    await set.pauseReplay(s1);
    await set.pauseReplay(s2);
    const seen = (id: number) =>
      pool.transaction(
        async (tx) =>
          (
            await tx.query(`select exists (select 1 from items where id = $1) as seen, ${WHERE.slice(7)}`, [
              id,
            ])
          ).rows[0],
        { readOnly: true, propagation: 'requiresNew' },
      );
    const insert = () =>
      pool.transaction(
        async (tx) =>
          (await tx.query<{ id: number }>("insert into items (note) values ('ryw') returning id")).rows[0]
            ?.id as number,
        {
          propagation: 'requiresNew',
        },
      );

    // No enclosing scope remembers the write: the read goes to a paused standby and misses it.
    const lost = await insert();
    expect(await seen(lost)).toMatchObject({ seen: false, recovery: true });

    // Inside an ambient scope (a read-only one here, as a read-only request would be) that committed a write,
    // the next read-only scope goes to the primary.
    const outcome = await pool.transaction(
      async () => {
        const id = await insert();
        return seen(id);
      },
      { readOnly: true },
    );
    expect(outcome).toMatchObject({ seen: true, recovery: false });

    // The request middleware's scope: a read-only request that wrote first reads on the primary.
    const requestRead = await pool.runInRequestScope({ readOnly: true }, undefined, async (scope) => {
      const id = await insert();
      const r = (
        await pool.query(`select exists (select 1 from items where id = $1) as seen, ${WHERE.slice(7)}`, [id])
      ).rows[0];
      await scope.finish(true);
      return r;
    });
    expect(requestRead).toMatchObject({ seen: true, recovery: false });

    // Once a standby has replayed the commit, the same context reads there again.
    const back = await pool.transaction(
      async () => {
        const id = await insert();
        await set.resumeReplay(s1);
        await set.resumeReplay(s2);
        for (let i = 0; i < 200; i++) {
          const r = await seen(id);
          if (r?.recovery === true) return r;
          await sleep(100);
        }
        return undefined;
      },
      { readOnly: true },
    );
    expect(back).toMatchObject({ seen: true, recovery: true });
  });

  it('gives a lagging standby (replay paused beyond maxReplicaLagMillis) no new reads', async () => {
    const pool = poolWith({ maxReplicaLagMillis: 1_000 });
    await pool.transaction(async () => undefined, { readOnly: true });
    await set.pauseReplay(s1);
    // WAL the paused standby cannot replay; the health check sees it fall behind.
    const writing = setInterval(
      () => void pool.query("insert into items (note) values ('lag')").catch(() => undefined),
      100,
    );
    try {
      const down = await logs.waitFor('replica.down', (r) => r.reason === 'lagging', 20_000);
      expect(down).toMatchObject({ replica: 0, host: `127.0.0.1:${s1.port}` });
      expect(down.lagMillis as number).toBeGreaterThan(1_000);
      for (let i = 0; i < 20; i++) {
        const r = await pool.transaction(async (tx) => (await tx.query<Where>(WHERE)).rows[0], {
          readOnly: true,
        });
        expect(r).toEqual({ recovery: true, port: s2.port });
      }
    } finally {
      clearInterval(writing);
    }
    await set.resumeReplay(s1);
    await logs.waitFor('replica.up', (r) => r.replica === 0, 20_000);
  });

  it('keeps reads going without a failed call while a standby is stopped, and uses it again once restarted', async () => {
    const pool = poolWith({ acquireTimeoutMillis: 20_000 });
    await pool.transaction(async () => undefined, { readOnly: true });
    const failures: unknown[] = [];
    const hits = new Map<number, number>();
    let running = true;
    const worker = async () => {
      while (running) {
        try {
          const r = await pool.transaction(
            async (tx) => {
              await tx.query('select count(*) from items');
              return (await tx.query<Where>(WHERE)).rows[0];
            },
            { readOnly: true, retry: { maxAttempts: 5, baseDelayMillis: 20 } },
          );
          hits.set(r?.port as number, (hits.get(r?.port as number) ?? 0) + 1);
        } catch (err) {
          failures.push(err);
        }
      }
    };
    const workers = Array.from({ length: 6 }, worker);
    try {
      await sleep(300);
      await s1.stop();
      await logs.waitFor('replica.down', (r) => r.replica === 0, 20_000);
      const before = hits.get(s2.port) ?? 0;
      await sleep(1_000);
      expect(hits.get(s2.port) ?? 0).toBeGreaterThan(before);
      await s1.start();
      await logs.waitFor('replica.up', (r) => r.replica === 0, 20_000);
      const s1Before = hits.get(s1.port) ?? 0;
      for (let i = 0; i < 100 && (hits.get(s1.port) ?? 0) === s1Before; i++) await sleep(100);
      expect(hits.get(s1.port) ?? 0).toBeGreaterThan(s1Before);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    const total = [...hits.values()].reduce((n, k) => n + k, 0);
    console.info(
      `standby stopped under load: ${total} reads (${hits.get(s1.port) ?? 0} on the stopped one, ${hits.get(s2.port) ?? 0} on the other, ${hits.get(set.primary.port) ?? 0} on the primary), ${failures.length} failed, ${logs.events('tx.retry').length} retried`,
    );
    expect(failures).toEqual([]);
  }, 90_000);

  it('never has more than a replica’s max connections in pg_stat_activity with 100 concurrent reads', async () => {
    const pool = poolWith({ acquireTimeoutMillis: 30_000 }, 3);
    const count = async (node: ReplicationNode) =>
      Number(
        (
          await node.admin(
            "select count(*)::int as n from pg_stat_activity where datname = $1 and application_name = 'replicas-test'",
            [db],
          )
        ).rows[0].n,
      );
    let peak1 = 0;
    let peak2 = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [a, b] = await Promise.all([count(s1), count(s2)]);
        peak1 = Math.max(peak1, a);
        peak2 = Math.max(peak2, b);
        await sleep(10);
      }
    })();
    const results = await Promise.all(
      Array.from({ length: 100 }, () =>
        pool.transaction(
          async (tx) => {
            await tx.query('select pg_sleep(0.02)');
            return (await tx.query<Where>(WHERE)).rows[0]?.recovery;
          },
          { readOnly: true },
        ),
      ),
    );
    sampling = false;
    await sampler;
    console.info(
      `100 concurrent read-only transactions: peak sessions ${peak1}/3 and ${peak2}/3 on the standbys`,
    );
    expect(results.every((r) => r === true)).toBe(true);
    expect(peak1).toBeGreaterThan(0);
    expect(peak2).toBeGreaterThan(0);
    expect(peak1).toBeLessThanOrEqual(3);
    expect(peak2).toBeLessThanOrEqual(3);
    const stats = pool.stats().replicas ?? [];
    expect(stats.reduce((n, r) => n + r.acquired, 0)).toBeGreaterThanOrEqual(100);
  }, 60_000);

  it('runs a route the middleware marks read-only on a standby, and writes on the primary', async () => {
    const pool = poolWith();
    const web = express();
    web.use(
      transactionPerRequest(pool, {
        methods: ['GET', 'POST'],
        transaction: (req) => (req.method === 'GET' ? { readOnly: true } : undefined),
      }),
    );
    web.get('/where', async (_req, res) => {
      res.json((await pool.query<Where>(WHERE)).rows[0]);
    });
    web.post('/where', async (_req, res) => {
      await pool.query("insert into items (note) values ('web')");
      res.json((await pool.query<Where>(WHERE)).rows[0]);
    });
    const server: Server = await new Promise((resolve) => {
      const s = web.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const read = (await (await fetch(`${base}/where`)).json()) as Where;
      expect(read.recovery).toBe(true);
      expect(standbyPorts().has(read.port)).toBe(true);
      const write = (await (await fetch(`${base}/where`, { method: 'POST' })).json()) as Where;
      expect(write).toEqual({ recovery: false, port: set.primary.port });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('rejects with the replica’s PoolExhaustedError, naming its host, when every replica is full', async () => {
    const pool = poolWith({}, 1);
    await pool.transaction(async () => undefined, { readOnly: true });
    await using first = await pool.acquire({ readOnly: true });
    await using second = await pool.acquire({ readOnly: true });
    const ports = [first, second].map(async (c) => (await c.query<Where>(WHERE)).rows[0]?.port);
    expect(new Set(await Promise.all(ports))).toEqual(standbyPorts());
    const err = await pool.acquire({ readOnly: true, timeoutMillis: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PoolExhaustedError);
    expect((err as PoolExhaustedError).message).toMatch(
      /^pool exhausted \(replica 127\.0\.0\.1:\d+\): 1\/1 connections in use/,
    );
    expect((err as PoolExhaustedError).stats.max).toBe(1);
  });

  it('falls back to the primary when no replica is usable', async () => {
    const pool = poolWith({ acquireTimeoutMillis: 20_000 });
    await s1.stop();
    await s2.stop();
    const r = await pool.transaction(async (tx) => (await tx.query<Where>(WHERE)).rows[0], {
      readOnly: true,
    });
    expect(r).toEqual({ recovery: false, port: set.primary.port });
  });
});
