import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError, createPool, type Pool, type PoolConfig } from '../src/index.js';
import { captureLogs, type LogCapture } from './setup/log-capture.js';
import { type ReplicationNode, type ReplicationSet, startReplicationSet } from './support/replication-set.js';

// Several hosts in one pool against a real primary and standby: targetSessionAttrs as libpq's, then a failover
// (the primary stopped, the standby promoted) ridden out by new connections. The failover test is last: it
// ends the replication set's primary.

interface Where {
  recovery: boolean;
  port: number;
}
const WHERE = 'select pg_is_in_recovery() as recovery, inet_server_port() as port';

describe('multi-host pools', () => {
  let set: ReplicationSet;
  let db: string;
  let standby: ReplicationNode;
  let logs: LogCapture;
  const pools: Pool[] = [];

  beforeAll(async () => {
    set = await startReplicationSet({ standbys: 1, maxConnections: 60 });
    standby = set.standbys[0] as ReplicationNode;
    db = await set.createDatabase();
    await set.primary.admin('create table ledger (id int primary key)', [], db);
    await set.waitForReplay(standby);
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await set?.destroy();
  });

  /** A pool over `nodes`, in that order, as one multi-host URL. */
  const poolOver = (nodes: ReplicationNode[], extra: PoolConfig = {}): Pool => {
    logs = captureLogs('debug');
    const hosts = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
    const pool = createPool({
      connectionString: `postgres://${set.user}:${set.password}@${hosts}/${db}`,
      max: 4,
      logger: logs.logger,
      ...extra,
    });
    pools.push(pool);
    return pool;
  };
  const where = async (pool: Pool) => (await pool.query<Where>(WHERE)).rows[0];

  it('reads several hosts from a URL and goes to the primary by default (read-write), whatever the order', async () => {
    expect(await where(poolOver([standby, set.primary]))).toEqual({
      recovery: false,
      port: set.primary.port,
    });
    const pool = poolOver([set.primary, standby], { targetSessionAttrs: 'any' });
    expect(await where(pool)).toEqual({ recovery: false, port: set.primary.port });
  });

  it('loadBalanceHosts: random spreads new connections over the hosts; disable keeps to the first', async () => {
    const ports = async (balance: 'random' | 'disable') => {
      // maxUses 1: every query on a connection of its own.
      const pool = poolOver([set.primary, standby], {
        targetSessionAttrs: 'any',
        loadBalanceHosts: balance,
        maxUses: 1,
      });
      const seen = new Set<number>();
      for (let i = 0; i < 24; i++) seen.add((await where(pool))?.port as number);
      return seen;
    };
    expect(await ports('random')).toEqual(new Set([set.primary.port, standby.port]));
    expect(await ports('disable')).toEqual(new Set([set.primary.port]));
  });

  it('takes host and port arrays', async () => {
    const pool = createPool({
      host: ['127.0.0.1', '127.0.0.1'],
      port: [standby.port, set.primary.port],
      user: set.user,
      password: set.password,
      database: db,
      targetSessionAttrs: 'standby',
    });
    pools.push(pool);
    expect(await where(pool)).toEqual({ recovery: true, port: standby.port });
  });

  it('primary, standby, read-only and prefer-standby choose as libpq does', async () => {
    const primaryFirst = [set.primary, standby];
    const standbyFirst = [standby, set.primary];
    expect(await where(poolOver(standbyFirst, { targetSessionAttrs: 'primary' }))).toMatchObject({
      recovery: false,
    });
    expect(await where(poolOver(primaryFirst, { targetSessionAttrs: 'standby' }))).toMatchObject({
      recovery: true,
    });
    expect(await where(poolOver(primaryFirst, { targetSessionAttrs: 'read-only' }))).toMatchObject({
      recovery: true,
    });
    const url = `postgres://${set.user}:${set.password}@127.0.0.1:${set.primary.port},127.0.0.1:${standby.port}/${db}?target_session_attrs=prefer-standby`;
    const prefer = createPool({ connectionString: url, max: 2, logger: captureLogs('warn').logger });
    pools.push(prefer);
    expect(await where(prefer)).toMatchObject({ recovery: true });
    // Only the primary answers: prefer-standby takes it; standby rejects, naming the target.
    await standby.stop();
    try {
      expect(await where(poolOver(primaryFirst, { targetSessionAttrs: 'prefer-standby' }))).toMatchObject({
        recovery: false,
      });
      const strict = poolOver(primaryFirst, { targetSessionAttrs: 'standby', acquireTimeoutMillis: 1_500 });
      const err = await strict.query('select 1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect(String((err as ConnectError).cause)).toMatch(/no host matched targetSessionAttrs 'standby'/);
    } finally {
      await standby.start();
    }
  });

  it('after the primary stops and the standby is promoted, writes resume on it within 15 s and nothing committed is lost', async () => {
    const pool = poolOver([set.primary, standby], { acquireTimeoutMillis: 15_000, max: 2 });
    const writerLogs = logs;
    let checkStandbyOnly = async () => {};
    const committed: number[] = [];
    let next = 1;
    let running = true;
    let lastFailureAt = 0;
    const writer = (async () => {
      while (running) {
        const id = next++;
        try {
          await pool.transaction((tx) => tx.query('insert into ledger (id) values ($1)', [id]));
          committed.push(id);
        } catch {
          // Expected while no server takes writes; only reported commits are checked below.
          lastFailureAt = performance.now();
          await sleep(50);
        }
      }
    })();
    try {
      while (committed.length < 20) await sleep(20);
      // A pool that wants a standby, with a connection pooled there: after the promotion it must not be reused.
      const standbyOnly = poolOver([standby], { targetSessionAttrs: 'standby', acquireTimeoutMillis: 1_500 });
      expect(await where(standbyOnly)).toEqual({ recovery: true, port: standby.port });
      checkStandbyOnly = async () => {
        // The server reports its new role with the answer to the first query after the promotion (PostgreSQL
        // updates in_hot_standby lazily): that query runs, then the connection is destroyed, not reused.
        await standbyOnly.query(WHERE);
        const err = await standbyOnly.query(WHERE).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectError);
        expect(standbyOnly.stats().destroyed).toBeGreaterThanOrEqual(1);
      };
      await set.primary.stop();
      const countAtStop = committed.length;
      await set.promote(standby);
      const promotedAt = performance.now();
      while (committed.length === countAtStop && performance.now() - promotedAt < 15_000) await sleep(20);
      const resumedMillis = performance.now() - promotedAt;
      console.info(
        `failover: ${countAtStop} commits before the stop, writes resumed ${Math.round(resumedMillis)} ms after the promotion`,
      );
      expect(committed.length).toBeGreaterThan(countAtStop);
      expect(resumedMillis).toBeLessThan(15_000);
      const resumedAt = committed.length;
      while (committed.length < resumedAt + 10) await sleep(20);
      expect(lastFailureAt).toBeLessThan(performance.now());
    } finally {
      running = false;
      await writer;
    }
    await checkStandbyOnly();
    const switched = writerLogs.events('host.switched');
    expect(switched[0]).toMatchObject({
      from: `127.0.0.1:${set.primary.port}`,
      to: `127.0.0.1:${standby.port}`,
    });
    const rows = await standby.admin('select id from ledger', [], db);
    const present = new Set(rows.rows.map((r) => r.id as number));
    expect(committed.filter((id) => !present.has(id))).toEqual([]);
    expect((await where(pool))?.port).toBe(standby.port);
  }, 90_000);
});
