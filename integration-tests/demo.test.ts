import { execFile } from 'node:child_process';
import { delimiter, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

const root = resolve(import.meta.dirname, '..');
const binDir = resolve(root, 'node_modules/.bin');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  millis: number;
}

/** Runs `npm run demo`'s command as a child process, against `databaseUrl` (so it starts no server). */
function runDemo(databaseUrl: string): Promise<Run> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    execFile(
      resolve(binDir, 'tsx'),
      ['demo/demo.ts'],
      {
        cwd: root,
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
        // The project's pinned Node first on PATH, as under `npm run`: tsx starts with whatever `node` it finds.
        env: {
          ...process.env,
          DATABASE_URL: databaseUrl,
          PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`,
          NO_COLOR: '1',
        },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolvePromise({ code, stdout, stderr, millis: performance.now() - started });
      },
    );
  });
}

describe('npm run demo', () => {
  let db: TestDatabase;
  let run: Run;

  beforeAll(async () => {
    db = await createTestDatabase();
    run = await runDemo(db.url);
  }, 90_000);

  afterAll(async () => {
    await db?.drop();
  });

  it('exits 0 within 30 s and says it finished', () => {
    expect(run.stderr, run.stdout).not.toMatch(/demo check failed|failed:/);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.millis).toBeLessThan(30_000);
    expect(run.stdout).toMatch(/Demo finished in [\d.]+ s: all five steps passed\./);
  });

  it('uses DATABASE_URL without printing its credentials', () => {
    expect(run.stdout).toContain('Using DATABASE_URL');
    const password = new URL(db.url).password;
    if (password !== '') expect(run.stdout).not.toContain(password);
  });

  it('walks through the five steps in order', () => {
    const headings = [...run.stdout.matchAll(/^== Step (\d) of 5: (.+) ==$/gm)].map((m) => m[1]);
    expect(headings).toEqual(['1', '2', '3', '4', '5']);
  });

  it('step 1: the lifecycle of an acquire scope in both forms, with the pool logging at debug', () => {
    expect(run.stdout).toContain('callback form: `await pool.acquire(async (conn) => ...)`');
    expect(run.stdout).toContain('exit: the callback returned 42, the connection is back');
    expect(run.stdout).toContain(
      '`await using` form: the connection is given back when the enclosing block ends',
    );
    expect(run.stdout).toContain('exit: the block ended, Symbol.asyncDispose gave it back');
    expect(run.stdout).toMatch(/DEBUG.*"event":"pool\.acquire"/);
    expect(run.stdout).toMatch(/DEBUG.*"event":"pool\.release"/);
  });

  it('step 2: cleanup after a throw, proved by stats()', () => {
    expect(run.stdout).toContain('callback form threw "the block failed halfway" (the same object: true)');
    expect(run.stdout).toMatch(/after the throw: size 1, idle 1, borrowed 0/);
    expect(run.stdout).toMatch(/WARN.*connection returned inside a transaction; rolling back/);
    expect(run.stdout).toContain("transaction status 'I'");
    expect(run.stdout).toContain('ScopeClosedError: cannot query: the scope has ended');
  });

  it('step 3: PoolExhaustedError messages for no-wait, queue-full and timeout', () => {
    expect(run.stdout).toMatch(
      /PoolExhaustedError \[POOL_EXHAUSTED, reason 'no-wait'\]: pool exhausted: 3\/3 connections in use/,
    );
    expect(run.stdout).toMatch(
      /PoolExhaustedError \[POOL_EXHAUSTED, reason 'queue-full'\]: pool exhausted: 1\/1/,
    );
    expect(run.stdout).toMatch(
      /PoolExhaustedError \[POOL_EXHAUSTED, reason 'timeout'\]: pool exhausted: 1\/1 connections in use, 0 waiting, waited 3\d\d ms/,
    );
  });

  it('step 4: the waits and durations of the log lines', () => {
    expect(run.stdout).toMatch(/"event":"pool\.acquire".*"waitMillis":\d+/);
    expect(run.stdout).toMatch(/"event":"tx\.commit".*"durationMillis":\d+/);
    expect(run.stdout).toMatch(/the logs reported: pool\.acquire waitMillis [\d, ]+/);
    expect(run.stdout).toMatch(/tx\.commit durationMillis \d+/);
  });

  it('step 5: commit, rollback on insufficient funds, savepoint and a retried serialization conflict', () => {
    expect(run.stdout).toContain('callback form, alice -> bob 30: committed.');
    expect(run.stdout).toContain('`await using` form, bob -> carol 10, then `await tx.commit()`: committed.');
    expect(run.stdout).toContain('rolled back by Symbol.asyncDispose');
    expect(run.stdout).toMatch(/carol -> alice 1000 \(insufficient funds\): rolled back/);
    expect(run.stdout).toContain('[SQLSTATE 23514, constraint accounts_balance_check]');
    expect(run.stdout).toMatch(/the bonus bob -> carol 500 was refused/);
    expect(run.stdout).toMatch(/INFO.*"event":"tx\.retry".*"sqlstate":"40001"/);
    expect(run.stdout).toMatch(/attempts (1 \(-> bob\) and 2|2 \(-> bob\) and 1) \(-> carol\)/);
    expect(run.stdout).toContain('money in the bank: 150.00 (it started at 150.00)');
  });

  it('with DATABASE_URL it started no server, and does not say it stops one', () => {
    expect(run.stdout).toContain('Every pool is closed (each step ends its pool with `await using`).');
    expect(run.stdout).not.toContain('stopping the server');
  });
});
