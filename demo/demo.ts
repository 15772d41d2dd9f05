/**
 * `npm run demo`: a guided tour of pg-scope in five steps, one per kind of Python async context manager whose
 * `__aexit__` sees the error and decides: a scope, a writer closed on error, a bounded pool, a timer and a
 * transaction.
 *
 * Runs against `DATABASE_URL` when it is set, else against an embedded PostgreSQL 18 it starts and deletes.
 * Its tables live in a schema of their own (`scope_demo_bank`), dropped at the start and at the end. Every step
 * checks what it shows; any surprise makes the demo exit with code 1.
 */
import { Writable } from 'node:stream';
import pg from 'pg';
import { type Logger, pino } from 'pino';
import pretty from 'pino-pretty';
import {
  type Connection,
  createPool,
  PoolExhaustedError,
  type PoolStats,
  ScopeClosedError,
  type Transaction,
} from '../src/index.js';
import { runWithServer } from './server.js';

const SCHEMA = 'scope_demo_bank';

/** One log line as pino wrote it, kept for step 4's summary. */
type LogRecord = Record<string, unknown> & { event?: string };

const recorded: LogRecord[] = [];

/**
 * The demo's logger: pino-pretty in this thread (synchronous, so log lines and the explanations printed with
 * console.log stay in order), plus a recorder that keeps every line for the timing summary.
 */
const logger: Logger = pino(
  { level: 'info', base: undefined },
  pino.multistream([
    {
      level: 'debug',
      stream: pretty({
        sync: true,
        colorize: process.stdout.isTTY === true,
        translateTime: 'HH:MM:ss.l',
        singleLine: true,
        ignore: 'pid,hostname',
      }),
    },
    {
      level: 'debug',
      stream: new Writable({
        write(chunk: Buffer, _encoding, done) {
          recorded.push(JSON.parse(chunk.toString()) as LogRecord);
          done();
        },
      }),
    },
  ]),
);

/** The same stream at debug level: the hot-path events (acquire, release, begin, commit) show up. */
const debugLogger = logger.child({}, { level: 'debug' });

function heading(step: number, title: string, explanation: string): void {
  console.log(`\n== Step ${step} of 5: ${title} ==`);
  console.log(explanation.replace(/^/gm, '   '));
}

function note(text: string): void {
  console.log(`-> ${text}`);
}

/** Throws (and so fails the demo) when what a step shows did not happen. */
function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`demo check failed: ${what}`);
}

function describeStats(s: PoolStats): string {
  return `size ${s.size}, idle ${s.idle}, borrowed ${s.borrowed}, waiting ${s.waiting} (acquired ${s.acquired}, created ${s.created})`;
}

async function main(): Promise<void> {
  const started = performance.now();
  console.log('pg-scope demo: scopes whose exit decides what happens to the connection\n');
  await runWithServer(async (server) => {
    console.log(`Using ${server.description}.`);
    const url = server.url;
    await scopeLifecycle(url);
    await cleanupOnError(url);
    await boundedPool(url);
    await timing(url);
    await bankTransfers(url);
    // The server is stopped only when the demo started one (not for DATABASE_URL: see server.ts).
    const stopping = process.env.DATABASE_URL ? '' : '; stopping the server';
    console.log(`\nEvery pool is closed (each step ends its pool with \`await using\`)${stopping}.`);
  });
  if (process.exitCode === 1) return;
  console.log(
    `\nDemo finished in ${((performance.now() - started) / 1000).toFixed(1)} s: all five steps passed.`,
  );
}

/** Step 1 — Python's AsyncContext: __aenter__ hands something out, __aexit__ runs when the block ends. */
async function scopeLifecycle(url: string): Promise<void> {
  heading(
    1,
    'the scope lifecycle: enter, work, exit',
    [
      'An acquire scope lends one connection of the pool to a block of code: entering takes it (pool.acquire),',
      'the block works with it, and leaving gives it back (pool.release), whatever way the block ends.',
      'The same scope comes in two forms: a callback, and `await using` (TC39 explicit resource management).',
      'This pool logs at debug, so the enter and exit lines of the library itself are shown.',
    ].join('\n'),
  );
  await using pool = createPool({
    connectionString: url,
    max: 2,
    application_name: 'demo-lifecycle',
    logger: debugLogger,
  });

  note('callback form: `await pool.acquire(async (conn) => ...)` resolves with what the callback returns');
  const answer = await pool.acquire(async (conn) => {
    note(`  enter: the callback got connection ${conn.scopeId}`);
    const { rows } = await conn.query<{ answer: number }>('select 6 * 7 as answer');
    note(`  work: select 6 * 7 answered ${rows[0]?.answer}`);
    return rows[0]?.answer;
  });
  note(`  exit: the callback returned ${answer}, the connection is back: ${describeStats(pool.stats())}`);
  check(answer === 42 && pool.stats().borrowed === 0, 'the callback scope returned its value and connection');

  note('`await using` form: the connection is given back when the enclosing block ends');
  {
    await using conn = await pool.acquire();
    note(`  enter: \`await using conn = await pool.acquire()\` got connection ${conn.scopeId}`);
    const { rows } = await conn.query<{ user: string }>('select current_user as user');
    note(`  work: connected as ${rows[0]?.user}; inside the block: ${describeStats(pool.stats())}`);
    check(pool.stats().borrowed === 1, 'the connection is borrowed inside the block');
  }
  note(`  exit: the block ended, Symbol.asyncDispose gave it back: ${describeStats(pool.stats())}`);
  check(pool.stats().borrowed === 0, 'leaving the block returned the connection');
  check(pool.stats().created === 1, 'both scopes reused one server connection');
  note(
    'both scopes used the same server connection: the pool reuses idle connections instead of opening new ones',
  );
}

/** Step 2 — Python's SafeWriter: the file is closed even though the block raised. */
async function cleanupOnError(url: string): Promise<void> {
  heading(
    2,
    'cleanup runs even when the block throws',
    [
      "The exit handler runs on every path. The block's error reaches the caller unchanged (the same object),",
      'and the connection is back in the pool before the caller sees it: stats() proves it.',
    ].join('\n'),
  );
  await using pool = createPool({ connectionString: url, max: 2, application_name: 'demo-cleanup', logger });

  const failure = new Error('the block failed halfway');
  const caught = await pool
    .acquire(async (conn) => {
      await conn.query('select 1');
      throw failure;
    })
    .catch((error: unknown) => error);
  note(`callback form threw "${(caught as Error).message}" (the same object: ${caught === failure})`);
  note(`  after the throw: ${describeStats(pool.stats())}`);
  check(caught === failure && pool.stats().borrowed === 0, 'the callback scope cleaned up after a throw');

  try {
    await using conn = await pool.acquire();
    await conn.query('select 1');
    throw new Error('the using block failed halfway');
  } catch (error) {
    note(`\`await using\` form threw "${(error as Error).message}"`);
  }
  note(`  after the throw: ${describeStats(pool.stats())}`);
  check(pool.stats().borrowed === 0, 'the using scope cleaned up after a throw');

  note('a block that opened a transaction by hand (BEGIN) and then threw: the pool rolls it back (warn)');
  await pool
    .acquire(async (conn) => {
      await conn.query('begin');
      await conn.query('select 1');
      throw new Error('thrown inside a hand-written BEGIN');
    })
    .catch(() => undefined);
  const status = await pool.acquire((conn) => conn.client.getTransactionStatus());
  note(
    `  the next borrower's connection is clean: transaction status '${status}' (I = idle, not in a transaction)`,
  );
  check(status === 'I', 'the connection left inside BEGIN was rolled back before reuse');

  let escaped: Connection | undefined;
  await pool.acquire(async (conn) => {
    escaped = conn;
  });
  const late = await escaped?.query('select 1').catch((error: unknown) => error);
  note(`a handle used after its scope ended: ${(late as Error).name}: ${(late as Error).message}`);
  check(late instanceof ScopeClosedError, 'use after the scope rejects with ScopeClosedError');
  note(`  nothing was sent and the pool is untouched: ${describeStats(pool.stats())}`);
}

/** Step 3 — Python's DBPool: at most three connections; the fourth caller is told at once. */
async function boundedPool(url: string): Promise<void> {
  heading(
    3,
    'the bounded pool',
    [
      'max is a hard bound on server connections. With acquireTimeoutMillis: 0 the pool fails fast: when all',
      'connections are borrowed, acquire rejects at once with PoolExhaustedError.',
      'Otherwise a caller waits in line (FIFO) for its timeout, and a full waiting line turns callers away.',
    ].join('\n'),
  );
  {
    await using failFast = createPool({
      connectionString: url,
      max: 3,
      acquireTimeoutMillis: 0,
      application_name: 'demo-fail-fast',
      logger,
    });
    await using first = await failFast.acquire();
    await using second = await failFast.acquire();
    await using third = await failFast.acquire();
    note(
      `fail-fast pool of 3, three connections borrowed (${first.scopeId}, ${second.scopeId}, ${third.scopeId})`,
    );
    const t0 = performance.now();
    const error = await failFast.acquire().catch((e: unknown) => e);
    const millis = performance.now() - t0;
    check(error instanceof PoolExhaustedError && error.reason === 'no-wait', 'the 4th acquire fails fast');
    note(`the 4th acquire rejected after ${millis.toFixed(1)} ms:`);
    note(`  ${error.name} [${error.code}, reason '${error.reason}']: ${error.message}`);
  }

  await using waiting = createPool({
    connectionString: url,
    max: 1,
    acquireTimeoutMillis: 300,
    maxWaiting: 1,
    application_name: 'demo-waiting',
    logger,
  });
  await using holder = await waiting.acquire();
  note(
    `waiting pool: max 1, acquireTimeoutMillis 300, maxWaiting 1; ${holder.scopeId} holds the only connection`,
  );
  const t0 = performance.now();
  const waiter = waiting.acquire(async () => 'never').catch((e: unknown) => e);
  const turnedAway = await waiting.acquire(async () => 'never').catch((e: unknown) => e);
  check(
    turnedAway instanceof PoolExhaustedError && turnedAway.reason === 'queue-full',
    'a caller beyond maxWaiting is turned away',
  );
  note(
    `a second caller waits in line; a third is turned away at once (${(performance.now() - t0).toFixed(1)} ms):`,
  );
  note(`  ${turnedAway.name} [${turnedAway.code}, reason '${turnedAway.reason}']: ${turnedAway.message}`);
  const timedOut = await waiter;
  check(timedOut instanceof PoolExhaustedError && timedOut.reason === 'timeout', 'the waiter times out');
  note(`the waiting caller gave up after ${timedOut.waitedMillis.toFixed(0)} ms:`);
  note(`  ${timedOut.name} [${timedOut.code}, reason '${timedOut.reason}']: ${timedOut.message}`);
  note(`totals: ${waiting.stats().exhausted} exhausted acquires on this pool, counted in stats().exhausted`);
}

/** Step 4 — Python's Timer: __aexit__ measures the block. Here the pool's log lines carry the durations. */
async function timing(url: string): Promise<void> {
  heading(
    4,
    'timing: the durations the logs report',
    [
      'At debug level every acquire logs how long it waited (pool.acquire waitMillis), every release how long',
      'the connection was held (pool.release heldMillis), every commit how long the transaction took',
      '(tx.commit durationMillis). One connection here: the second caller waits while the first holds it.',
    ].join('\n'),
  );
  await using pool = createPool({
    connectionString: url,
    max: 1,
    application_name: 'demo-timing',
    logger: debugLogger,
  });
  await pool.query('select 1'); // open the connection first, so the waits below are waits, not connects
  const from = recorded.length;

  let holding: () => void = () => {};
  const entered = new Promise<void>((resolve) => {
    holding = resolve;
  });
  const holder = pool.acquire(async (conn) => {
    holding();
    await conn.query('select pg_sleep(0.15)');
  });
  await entered;
  const t0 = performance.now();
  await pool.acquire(async (conn) => {
    note(
      `the second caller got the connection after ${(performance.now() - t0).toFixed(0)} ms (measured by the caller)`,
    );
    await conn.query('select 1');
  });
  await holder;

  const t1 = performance.now();
  await pool.transaction(async (tx) => {
    await tx.query('select pg_sleep(0.1)');
    await tx.query('select 1');
  });
  note(
    `a transaction with a 100 ms statement took ${(performance.now() - t1).toFixed(0)} ms (measured by the caller)`,
  );

  const events = recorded.slice(from).filter((r) => r.pool === 'demo-timing');
  const waits = events.filter((r) => r.event === 'pool.acquire').map((r) => Number(r.waitMillis));
  const held = events.filter((r) => r.event === 'pool.release').map((r) => Number(r.heldMillis));
  const commits = events.filter((r) => r.event === 'tx.commit').map((r) => Number(r.durationMillis));
  note(`the logs reported: pool.acquire waitMillis ${waits.join(', ')}`);
  note(`                   pool.release heldMillis ${held.join(', ')}`);
  note(`                   tx.commit durationMillis ${commits.join(', ')}`);
  check(
    waits.some((w) => w >= 100),
    'an acquire that waited for the holder logged its wait',
  );
  check(
    commits.some((d) => d >= 90),
    'the commit logged the duration of the transaction',
  );
  note(
    'feed these fields to your metrics (a pino stream or a pino transport) instead of timing every call site',
  );
}

/** Moves money inside `tx`; the CHECK (balance >= 0) refuses to overdraw. */
async function transfer(tx: Transaction, from: string, to: string, amount: number): Promise<void> {
  await tx.query('update accounts set balance = balance - $1 where id = $2', [amount, from]);
  await tx.query('update accounts set balance = balance + $1 where id = $2', [amount, to]);
  await tx.query('insert into ledger (from_account, to_account, amount) values ($1, $2, $3)', [
    from,
    to,
    amount,
  ]);
}

/** Step 5 — Python's Transaction: commit when the block succeeds, roll back when it raises. */
async function bankTransfers(url: string): Promise<void> {
  heading(
    5,
    'money transfers: commit, rollback, savepoint, retry',
    [
      'A transaction scope is an acquire scope whose exit also ends the transaction. Callback form: COMMIT when',
      'the callback resolves, ROLLBACK when it throws. `await using` form: commit is explicit, and leaving the',
      'block without `await tx.commit()` rolls back. Accounts have CHECK (balance >= 0).',
    ].join('\n'),
  );
  await using pool = createPool({
    connectionString: url,
    max: 4,
    application_name: 'demo-bank',
    // Every connection of this pool works in the demo's schema: a pg ClientConfig field, passed through.
    options: `-c search_path=${SCHEMA}`,
    logger,
  });
  try {
    await pool.query(`
      drop schema if exists ${SCHEMA} cascade;
      create schema ${SCHEMA};
      create table ${SCHEMA}.accounts (
        id text primary key,
        balance numeric(12, 2) not null check (balance >= 0)
      );
      create table ${SCHEMA}.ledger (
        id bigint generated always as identity primary key,
        from_account text not null references ${SCHEMA}.accounts,
        to_account text not null references ${SCHEMA}.accounts,
        amount numeric(12, 2) not null check (amount > 0)
      );
      insert into ${SCHEMA}.accounts values ('alice', 100), ('bob', 50), ('carol', 0);
    `);
    const balances = async () => {
      const { rows } = await pool.query<{ id: string; balance: string }>(
        'select id, balance from accounts order by id',
      );
      return rows.map((r) => `${r.id} ${r.balance}`).join(', ');
    };
    note(`accounts: ${await balances()}`);

    await pool.transaction((tx) => transfer(tx, 'alice', 'bob', 30));
    note(`callback form, alice -> bob 30: committed. ${await balances()}`);

    {
      await using tx = await pool.transaction();
      await transfer(tx, 'bob', 'carol', 10);
      await tx.commit();
    }
    note(`\`await using\` form, bob -> carol 10, then \`await tx.commit()\`: committed. ${await balances()}`);

    {
      await using tx = await pool.transaction();
      await transfer(tx, 'bob', 'alice', 5);
      note('`await using` form, bob -> alice 5, block left without commit ...');
    }
    note(`  ... rolled back by Symbol.asyncDispose. ${await balances()}`);

    const overdraft = await pool
      .transaction((tx) => transfer(tx, 'carol', 'alice', 1000))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    check(
      overdraft instanceof pg.DatabaseError && overdraft.code === '23514',
      'the overdraft violated the CHECK constraint',
    );
    note(`carol -> alice 1000 (insufficient funds): rolled back, pg's own error reached the caller:`);
    note(
      `  ${overdraft.constructor.name} [SQLSTATE ${overdraft.code}, constraint ${overdraft.constraint}]: ${overdraft.message}`,
    );
    note(`  nothing of it was kept: ${await balances()}`);

    const total = await pool.transaction(async (tx) => {
      await transfer(tx, 'alice', 'carol', 20);
      const bonus = await tx
        .transaction((savepoint) => transfer(savepoint, 'bob', 'carol', 500))
        .then(
          () => 'paid',
          (error: unknown) => `refused (${(error as Error).message})`,
        );
      note(`nested savepoint inside alice -> carol 20: the bonus bob -> carol 500 was ${bonus}`);
      const { rows } = await tx.query<{ total: string }>('select sum(balance) as total from accounts');
      return rows[0]?.total;
    });
    note(
      `  the savepoint rolled back alone; the outer transfer committed. ${await balances()} (total ${total})`,
    );

    await serializationConflict(pool, balances);

    const { rows } = await pool.query<{ n: number; total: string }>(
      'select (select count(*)::int from ledger) as n, (select sum(balance) from accounts) as total',
    );
    note(`ledger: ${rows[0]?.n} transfers; money in the bank: ${rows[0]?.total} (it started at 150.00)`);
    check(rows[0]?.total === '150.00' && rows[0]?.n === 5, 'no money appeared or vanished');
    const s = pool.stats();
    note(`stats of the bank pool: ${s.commits} commits, ${s.rollbacks} rollbacks, ${describeStats(s)}`);
  } finally {
    await pool.query(`drop schema if exists ${SCHEMA} cascade`);
  }
}

/**
 * Two serializable transfers out of alice's account overlap: both read her balance before either writes.
 * The second writer gets SQLSTATE 40001 (serialization_failure); `retry` runs its callback again on a fresh
 * transaction, which sees the first transfer and succeeds.
 */
async function serializationConflict(
  pool: ReturnType<typeof createPool>,
  balances: () => Promise<string>,
): Promise<void> {
  const attempts = { toBob: 0, toCarol: 0 };
  let arrived = 0;
  let openBarrier: () => void = () => {};
  const bothHaveRead = new Promise<void>((resolve) => {
    openBarrier = resolve;
  });
  const transferAfterRead = (who: keyof typeof attempts, to: string, amount: number) =>
    pool.transaction(
      async (tx) => {
        attempts[who]++;
        const { rows } = await tx.query<{ balance: string }>(
          "select balance from accounts where id = 'alice'",
        );
        if (Number(rows[0]?.balance) < amount) throw new Error('insufficient funds');
        if (attempts[who] === 1) {
          // First attempts only: wait until both transactions have read, so that they overlap.
          if (++arrived === 2) openBarrier();
          await bothHaveRead;
        }
        await transfer(tx, 'alice', to, amount);
      },
      { isolation: 'serializable', retry: { maxAttempts: 5 } },
    );
  await Promise.all([transferAfterRead('toBob', 'bob', 15), transferAfterRead('toCarol', 'carol', 10)]);
  note(
    `two overlapping serializable transfers out of alice: attempts ${attempts.toBob} (-> bob) and ${attempts.toCarol} (-> carol)`,
  );
  check(attempts.toBob + attempts.toCarol === 3, 'exactly one transfer was retried once');
  note(
    `  the loser got SQLSTATE 40001 and was retried (tx.retry above); both committed. ${await balances()}`,
  );
}

await main();
