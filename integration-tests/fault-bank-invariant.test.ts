import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommitUnknownError, isRetryable, LogEvent, PgScopeError } from '../src/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';
import { expectHealthy, type FaultPool, faultPool } from './support/fault-kit.js';
import { type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { type ProcessErrorWatch, watchProcessErrors } from './support/pool-test-kit.js';

/**
 * The bank invariant under faults: concurrent transfers between accounts through `pool.transaction`, each one
 * writing a ledger row with an id the client made, while the run throws errors from callbacks, kills backends
 * (its own, mid-transaction, and random pool sessions from outside), retries, and cuts every connection at the
 * proxy twice. Afterwards the money is all there, the ledger says exactly what the library reported, and the
 * balances agree with the ledger. With `resolveCommitOutcome` (the default) a COMMIT lost to a cut or a kill
 * is answered by the server, so no transfer ends unknown.
 */

const SEED = 0x5eed_b4a7;
const ACCOUNTS = 10;
const OPENING_BALANCE = 1_000;
const TRANSFERS = 300;
const CONCURRENCY = 16;
const MAX = 6;
/** Random outside kills of pool sessions: at most this many, one every KILL_EVERY_MILLIS. */
const MAX_OUTSIDE_KILLS = 20;
const KILL_EVERY_MILLIS = 50;
/** Proxy cuts after this many transfers settled. */
const CUT_AT = [100, 200];
/** Every transfer settles within this (retries and backoff included). */
const SETTLE_BOUND_MILLIS = 15_000;

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with the same choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** What the test decided for one transfer, before running it. */
interface Plan {
  readonly id: string;
  readonly from: number;
  readonly to: number;
  readonly amount: number;
  /** `'throw'`: the callback throws after its writes; `'kill-self'`: its backend is killed on attempt 1. */
  readonly fault: 'none' | 'throw' | 'kill-self';
}

type Outcome = 'committed' | 'failed' | 'unknown';

class AppError extends Error {}

describe('fault: the bank invariant', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  let fp: FaultPool | undefined;
  let admin: pg.Pool | undefined;
  let watch: ProcessErrorWatch;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin('create table accounts (id int primary key, balance int not null)');
    await db.admin(
      `create table ledger (
         id uuid primary key,
         from_id int not null references accounts,
         to_id int not null references accounts,
         amount int not null check (amount > 0)
       )`,
    );
    await db.admin('insert into accounts select g, $1 from generate_series(1, $2) as g', [
      OPENING_BALANCE,
      ACCOUNTS,
    ]);
  });

  afterAll(async () => {
    await db?.drop();
  });

  afterEach(async () => {
    watch?.stop();
    proxy?.resume();
    await admin?.end().catch(() => undefined);
    await fp?.pool.close({ timeoutMillis: 5_000 });
    fp = undefined;
    await proxy?.close();
  });

  it('keeps every cent and reports every transfer truthfully', async () => {
    watch = watchProcessErrors();
    proxy = await startFaultProxy({ host: db.config.host, port: db.config.port });
    fp = faultPool(db, proxy, { max: MAX, acquireTimeoutMillis: 10_000 });
    const pool = fp.pool;
    const app = fp.app;
    // The killers' sessions go straight to the server, around the proxy and its cuts.
    const killer = new pg.Pool({ ...db.config, application_name: 'bank-killer', max: 3 });
    // An idle killer session ended by the server while the run winds down (the database's drop terminates what
    // is left) must not be an uncaught 'error' on this tool pool; the assertions are about pg-scope's pool.
    killer.on('error', () => undefined);
    admin = killer;

    const random = prng(SEED);
    const plans: Plan[] = Array.from({ length: TRANSFERS }, () => {
      const from = 1 + Math.floor(random() * ACCOUNTS);
      const to = 1 + ((from + Math.floor(random() * (ACCOUNTS - 1))) % ACCOUNTS);
      const roll = random();
      return {
        id: randomUUID(),
        from,
        to,
        amount: 1 + Math.floor(random() * 50),
        fault: roll < 0.08 ? 'throw' : roll < 0.16 ? 'kill-self' : 'none',
      };
    });

    const faults = { thrown: 0, selfKills: 0, outsideKills: 0, cuts: 0 };
    const outcomes = new Map<string, Outcome>();
    const errorKinds = new Map<string, number>();
    const unknownWithXid: string[] = [];
    let retries = 0;
    let settled = 0;
    let maxSettleMillis = 0;
    let running = true;

    const transfer = async (plan: Plan): Promise<void> => {
      let attempt = 0;
      const thrown = new AppError(`transfer ${plan.id} refused by the application`);
      const started = performance.now();
      try {
        await pool.transaction(
          async (tx) => {
            attempt++;
            if (attempt > 1) retries++;
            if (plan.fault === 'kill-self' && attempt === 1) {
              const { rows } = await tx.query<{ pid: number }>('select pg_backend_pid() as pid');
              faults.selfKills++;
              await killer.query('select pg_terminate_backend($1)', [rows[0]?.pid]);
            }
            // Lower id first, so concurrent transfers never deadlock on each other's rows.
            const [first, second] = plan.from < plan.to ? [plan.from, plan.to] : [plan.to, plan.from];
            const delta = (id: number) => (id === plan.from ? -plan.amount : plan.amount);
            await tx.query('update accounts set balance = balance + $2 where id = $1', [first, delta(first)]);
            await tx.query('update accounts set balance = balance + $2 where id = $1', [
              second,
              delta(second),
            ]);
            await tx.query('insert into ledger (id, from_id, to_id, amount) values ($1, $2, $3, $4)', [
              plan.id,
              plan.from,
              plan.to,
              plan.amount,
            ]);
            if (plan.fault === 'throw') {
              faults.thrown++;
              throw thrown;
            }
          },
          { retry: { maxAttempts: 3, baseDelayMillis: 5, maxDelayMillis: 50 } },
        );
        outcomes.set(plan.id, 'committed');
      } catch (err) {
        const kind =
          err instanceof PgScopeError ? err.code : err instanceof AppError ? 'app error' : codeOrMessage(err);
        errorKinds.set(kind, (errorKinds.get(kind) ?? 0) + 1);
        if (err instanceof CommitUnknownError) {
          outcomes.set(plan.id, 'unknown');
          if (err.xid !== undefined) unknownWithXid.push(err.xid);
        } else {
          // A thrown error comes back as the same object; anything else is a connection loss retry gave up on.
          if (err instanceof AppError) expect(err).toBe(thrown);
          else expect(isRetryable(err), String(err)).toBe(true);
          outcomes.set(plan.id, 'failed');
        }
      } finally {
        const millis = performance.now() - started;
        maxSettleMillis = Math.max(maxSettleMillis, millis);
        settled++;
        if (CUT_AT.includes(settled)) {
          faults.cuts++;
          proxy.cutAll();
        }
      }
    };

    // Random outside kills of the pool's sessions (idle, mid-statement or mid-COMMIT: whatever they are doing).
    const outsideKiller = (async () => {
      while (running && faults.outsideKills < MAX_OUTSIDE_KILLS) {
        await sleep(KILL_EVERY_MILLIS);
        if (!running) break;
        const { rows } = await killer.query<{ pid: number }>(
          `select pid from pg_stat_activity
            where datname = current_database() and application_name = $1 and backend_type = 'client backend'`,
          [app],
        );
        if (rows.length === 0) continue;
        const victim = rows[Math.floor(random() * rows.length)]?.pid;
        await killer.query('select pg_terminate_backend($1)', [victim]);
        faults.outsideKills++;
      }
    })();

    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < plans.length) {
          const plan = plans[next++] as Plan;
          await transfer(plan);
        }
      }),
    );
    running = false;
    await outsideKiller;
    const runMillis = performance.now() - started;

    const count = (outcome: Outcome) => [...outcomes.values()].filter((o) => o === outcome).length;
    // Lost COMMITs the server answered for (resolveCommitOutcome, the default): each logged once.
    const resolved = fp.log.withEvent(LogEvent.txCommitResolved);
    const resolvedCommitted = resolved.filter((line) => line.outcome === 'committed').length;
    const resolvedAborted = resolved.filter((line) => line.outcome === 'aborted').length;
    console.log(
      [
        `bank invariant (seed ${SEED.toString(16)}): ${TRANSFERS} transfers in ${Math.round(runMillis)} ms`,
        `faults: ${faults.thrown} thrown errors, ${faults.selfKills} own backends killed mid-transaction, ` +
          `${faults.outsideKills} random sessions killed from outside, ${faults.cuts} proxy cuts; ${retries} retries`,
        `outcomes: ${count('committed')} committed, ${count('failed')} failed, ${count('unknown')} commit unknown`,
        `lost COMMITs resolved by the server: ${resolvedCommitted} committed, ${resolvedAborted} aborted`,
        `errors by kind: ${JSON.stringify(Object.fromEntries(errorKinds))}`,
        `max settle time: ${Math.round(maxSettleMillis)} ms`,
      ].join('\n'),
    );

    expect(outcomes.size).toBe(TRANSFERS);
    // The server stays reachable throughout (cuts and kills, no outage): every lost COMMIT gets its answer.
    // A transfer's id is learned with its second statement, long before COMMIT, so none can end unknown.
    expect(unknownWithXid).toEqual([]);
    expect(count('unknown')).toBe(0);
    expect(maxSettleMillis).toBeLessThan(SETTLE_BOUND_MILLIS);
    expect(faults.cuts).toBe(CUT_AT.length);
    expect(faults.thrown).toBeGreaterThan(0);
    expect(faults.selfKills).toBeGreaterThan(0);

    const check = new pg.Client(db.config);
    await check.connect();
    try {
      const { rows: totals } = await check.query<{ total: number }>(
        'select sum(balance)::int as total from accounts',
      );
      expect(totals[0]?.total).toBe(ACCOUNTS * OPENING_BALANCE);

      const { rows: ledger } = await check.query<{ id: string }>('select id from ledger');
      const inLedger = new Map<string, number>();
      for (const row of ledger) inLedger.set(row.id, (inLedger.get(row.id) ?? 0) + 1);
      for (const plan of plans) {
        const outcome = outcomes.get(plan.id);
        const times = inLedger.get(plan.id) ?? 0;
        if (outcome === 'committed') expect(times, `committed ${plan.id}`).toBe(1);
        else if (outcome === 'failed') expect(times, `failed ${plan.id}`).toBe(0);
        else expect(times, `unknown ${plan.id}`).toBeLessThanOrEqual(1);
      }
      const planned = new Set(plans.map((plan) => plan.id));
      for (const id of inLedger.keys()) expect(planned.has(id)).toBe(true);

      // Each balance is the opening balance plus what the ledger says came in, less what went out.
      const { rows: mismatches } = await check.query(
        `select a.id, a.balance,
                $1::int + coalesce(sum(case when l.to_id = a.id then l.amount end), 0)
                        - coalesce(sum(case when l.from_id = a.id then l.amount end), 0) as expected
           from accounts a
           left join ledger l on l.from_id = a.id or l.to_id = a.id
          group by a.id, a.balance
         having a.balance <> $1::int + coalesce(sum(case when l.to_id = a.id then l.amount end), 0)
                                     - coalesce(sum(case when l.from_id = a.id then l.amount end), 0)`,
        [OPENING_BALANCE],
      );
      expect(mismatches).toEqual([]);
    } finally {
      await check.end();
    }

    expect(watch.errors).toEqual([]);
    await expectHealthy(db, fp);
  });
});

function codeOrMessage(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}
