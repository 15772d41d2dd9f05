import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRetryable, LogEvent } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { backendPid, expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { captureLog, settle } from './support/pool-test-kit.js';

/** How long a pooled connection sits idle before the "NAT" drops it. */
const IDLE_MILLIS = 150;

/**
 * An idle connection silently dropped (a NAT or firewall timeout, modelled by the fault proxy cutting a
 * connection when its client's first bytes after an idle period arrive, before forwarding them): a transaction's
 * first flight (BEGIN + its first statement) is found dead before any answer, so nothing can have committed,
 * and the pool sends the same flight on another connection: the callback runs once and sees no error. A lone
 * `pool.query` outside a transaction is never re-sent, and neither is a statement after the first answer.
 */
describe('fault: the first flight of a transaction meets a dead connection', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  let fp: FaultPool | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table items (id int primary key)');
  });

  afterAll(async () => {
    await proxy?.close();
    await db?.drop();
  });

  afterEach(async () => {
    proxy.resume();
    if (fp) await expectHealthy(db, fp);
    await fp?.pool.close({ timeoutMillis: 2_000 });
    fp = undefined;
    await proxy.close();
  });

  /** A pool through a fresh proxy with one idle connection that the proxy will cut at its next use. */
  async function poolWithDroppedIdleConnection(): Promise<FaultPool> {
    proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    const log = captureLog('info');
    fp = { ...faultPool(db, proxy, { max: 2, logger: log.logger }), log };
    await fp.pool.query('select 1');
    expect(fp.pool.stats()).toMatchObject({ idle: 1, created: 1 });
    proxy.cutAfterIdle(IDLE_MILLIS);
    await sleep(IDLE_MILLIS + 50);
    return fp;
  }

  async function stored(id: number): Promise<number> {
    const { rows } = await db.admin('select count(*)::int as n from items where id = $1', [id]);
    return (rows[0] as { n: number }).n;
  }

  it('callback form: the flight is re-sent on another connection; the callback runs once and commits', async () => {
    const { pool, log } = await poolWithDroppedIdleConnection();
    let runs = 0;
    const pid = await pool.transaction(async (tx) => {
      runs++;
      await tx.query('insert into items values (1)');
      return backendPid((sql) => tx.query(sql));
    });
    expect(runs).toBe(1);
    expect(proxy.idleCuts).toBe(1);
    expect(await stored(1)).toBe(1);
    expect(pid).toBeGreaterThan(0);
    expect(pool.stats()).toMatchObject({ created: 2, commits: 1, rollbacks: 0 });
    expect(log.withEvent(LogEvent.txResend)).toHaveLength(1);
  });

  it('await using form: the same', async () => {
    const { pool } = await poolWithDroppedIdleConnection();
    {
      await using tx = await pool.transaction();
      expect((await tx.query('insert into items values (2) returning id')).rows).toEqual([{ id: 2 }]);
      await tx.commit();
    }
    expect(proxy.idleCuts).toBe(1);
    expect(await stored(2)).toBe(1);
  });

  it('a lone pool.query outside a transaction is not re-sent: it rejects with the connection loss', async () => {
    const { pool, log } = await poolWithDroppedIdleConnection();
    const outcome = await settle(pool.query('insert into items values (3)'));
    expect(outcome.ok).toBe(false);
    expect(isRetryable((outcome as { error: unknown }).error)).toBe(true);
    expect(proxy.idleCuts).toBe(1);
    expect(await stored(3)).toBe(0);
    expect(pool.stats().created).toBe(1);
    expect(log.withEvent(LogEvent.txResend)).toHaveLength(0);
  });

  it('after the first answer nothing is re-sent: a later statement that meets the cut fails the transaction', async () => {
    proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    fp = faultPool(db, proxy, { max: 2 });
    const { pool } = fp;
    let runs = 0;
    const outcome = await settle(
      pool.transaction(async (tx) => {
        runs++;
        await tx.query('insert into items values (4)');
        proxy.cutAfterIdle(IDLE_MILLIS);
        await sleep(IDLE_MILLIS + 50);
        await tx.query('insert into items values (5)');
      }),
    );
    expect(runs).toBe(1);
    expect(outcome.ok).toBe(false);
    expect(isRetryable((outcome as { error: unknown }).error)).toBe(true);
    expect(await stored(4)).toBe(0);
    expect(await stored(5)).toBe(0);
  });
});
