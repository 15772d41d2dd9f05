import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, ScopeClosedError } from '../src/index.js';
import { createTestDatabase, type TestDatabase, waitForConnections } from './setup/db.js';
import { appName, captureLog, closedPort, rejection, settle } from './support/pool-test-kit.js';

const root = resolve(import.meta.dirname, '..');
const entry = pathToFileURL(resolve(root, 'src/index.ts')).href;

/** A child script's run: its exit code, its one JSON report line, and when it exited (`Date.now()`). */
interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  report: Record<string, unknown> | undefined;
  stderr: string;
  exitedAt: number;
}

/**
 * Whether a process that has nothing left to do exits: each script runs in a child Node process (the test's
 * own Node, with tsx to load the TypeScript source), prints one JSON line, and is left to exit on its own.
 */
describe('processes exit when the pool has nothing left to do', () => {
  let db: TestDatabase;
  let dir: string;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'pg-scope-exit-'));
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  /**
   * Writes `body` (after an import of createPool) to a script and runs it. It is killed 30 s after it started
   * or, with `killAfterReportMillis`, that long after it printed its report.
   */
  async function runScript(name: string, body: string, killAfterReportMillis?: number): Promise<Run> {
    const file = join(dir, `${name}.mjs`);
    await writeFile(file, `import { createPool } from ${JSON.stringify(entry)};\n${body}\n`);
    return new Promise((resolvePromise) => {
      const child = spawn(process.execPath, ['--import', 'tsx', file], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: db.url, PG_SCOPE_LOG_LEVEL: 'error' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      let stdout = '';
      let stderr = '';
      let killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        const reported = stdout.includes('\n');
        stdout += chunk;
        if (killAfterReportMillis !== undefined && !reported && stdout.includes('\n')) {
          clearTimeout(killer);
          killer = setTimeout(() => child.kill('SIGKILL'), killAfterReportMillis);
        }
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr += chunk;
      });
      child.on('exit', (code, signal) => {
        const exitedAt = Date.now();
        clearTimeout(killer);
        children.delete(child);
        const line = stdout.split('\n').find((l) => l.startsWith('{'));
        resolvePromise({
          code,
          signal,
          report: line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>),
          stderr,
          exitedAt,
        });
      });
    });
  }

  /** A script that queries with `min: 1` and never calls close(). */
  function neverClosing(app: string, allowExitOnIdle: boolean): string {
    return `
const pool = createPool({ connectionString: process.env.DATABASE_URL, application_name: '${app}', min: 1, allowExitOnIdle: ${allowExitOnIdle} });
const first = await pool.query('select 1 as one');
await new Promise((r) => setTimeout(r, 200));
// While this runs, only the borrowed connection's socket keeps the process alive.
const slow = await pool.query('select pg_sleep(0.3), 2 as two');
const s = pool.stats();
console.log(JSON.stringify({ lastQueryAt: Date.now(), one: first.rows[0].one, two: slow.rows[0].two, idle: s.idle, size: s.size }));
`;
  }

  it('allowExitOnIdle with min: 1: exits on its own soon after the last query, idle connection and all', async () => {
    const run = await runScript('exit-on-idle', neverClosing(appName('exit'), true));

    expect(run.code, run.stderr).toBe(0);
    // Both queries answered: a borrowed connection keeps the process alive while its query runs.
    expect(run.report).toMatchObject({ one: 1, two: 2, idle: 1, size: 1 });
    // Loose: about at once after the last query; a loaded machine gets slack.
    expect(run.exitedAt - (run.report?.lastQueryAt as number)).toBeLessThan(5_000);
  });

  it("without allowExitOnIdle the idle connection keeps the process alive (pg.Pool's default too)", async () => {
    const app = appName('stay');
    const run = await runScript('stay-alive', neverClosing(app, false), 3_000);

    expect(run.report).toMatchObject({ one: 1, two: 2, idle: 1 });
    // Still running when the test stopped it, 3 s after its last query.
    expect(run.signal).toBe('SIGKILL');
    expect(await waitForConnections(db.name, 0, { applicationName: app })).toBe(0);
  });

  it('after close(): an undisposed transaction with a 20 s deadline does not keep the process alive', async () => {
    const run = await runScript(
      'undisposed-tx',
      `
const pool = createPool({ connectionString: process.env.DATABASE_URL, max: 2 });
const tx = await pool.transaction({ timeoutMillis: 20_000 });
await tx.query('select 1');
await pool.close({ timeoutMillis: 100 });
console.log(JSON.stringify({ closedAt: Date.now(), state: tx.state, error: await tx.query('select 1').then(() => 'none', (e) => e.name) }));
`,
    );

    expect(run.code, run.stderr).toBe(0);
    expect(run.report).toMatchObject({ error: 'ScopeClosedError' });
    expect(run.exitedAt - (run.report?.closedAt as number)).toBeLessThan(5_000);
  });

  it('after close(): a callback transaction whose connection was taken rejects at once, not at its deadline', async () => {
    const pool = createPool({ ...db.config, max: 1, logger: captureLog('error').logger });
    let started = false;
    const scope = settle(
      pool.transaction(
        async (tx) => {
          await tx.query('select 1');
          started = true;
          // Never settles: only the deadline (20 s) or the pool's close ends this scope.
          await new Promise(() => {});
        },
        { timeoutMillis: 20_000 },
      ),
    );
    while (!started) await new Promise((r) => setTimeout(r, 10));

    const closing = await settle(pool.close({ timeoutMillis: 100 }));
    const outcome = await scope;

    expect(closing.ok).toBe(true);
    expect(rejection(outcome)).toBeInstanceOf(ScopeClosedError);
    // Loose: at the close timeout, far from the 20 s deadline.
    expect(outcome.millis).toBeLessThan(5_000);
    expect(pool.stats()).toMatchObject({ borrowed: 0, rollbacks: 1 });
  });

  it('after close(): a transaction sleeping before its retry is cut short, and the process exits', async () => {
    const run = await runScript(
      'retry-backoff',
      `
const pool = createPool({ connectionString: process.env.DATABASE_URL, max: 2 });
let attempts = 0;
const outcome = pool
  .transaction(
    async (tx) => {
      attempts++;
      await tx.query("do $$ begin raise exception 'conflict' using errcode = 'serialization_failure'; end $$");
    },
    { retry: { maxAttempts: 3, baseDelayMillis: 20_000, maxDelayMillis: 20_000 } },
  )
  .then(() => 'resolved', (e) => e.name);
while (attempts < 1) await new Promise((r) => setTimeout(r, 10));
await new Promise((r) => setTimeout(r, 300));
await pool.close();
const closedAt = Date.now();
const result = await outcome;
console.log(JSON.stringify({ closedAt, settledAt: Date.now(), outcome: result, attempts }));
`,
    );

    expect(run.code, run.stderr).toBe(0);
    // The next attempt found the pool closed, at once instead of after the 10-20 s backoff.
    expect(run.report).toMatchObject({ outcome: 'PoolClosedError', attempts: 1 });
    expect((run.report?.settledAt as number) - (run.report?.closedAt as number)).toBeLessThan(5_000);
    expect(run.exitedAt - (run.report?.closedAt as number)).toBeLessThan(5_000);
  });

  it('after close(): a waiting acquirer and a connect backoff leave no timer behind', async () => {
    const port = await closedPort();
    const run = await runScript(
      'connect-backoff',
      `
const pool = createPool({ host: '127.0.0.1', port: ${port}, acquireTimeoutMillis: 20_000 });
const waiting = pool.acquire().then(() => 'acquired', (e) => e.name);
await new Promise((r) => setTimeout(r, 300));
const before = pool.stats();
await pool.close();
console.log(JSON.stringify({ closedAt: Date.now(), waiting: await waiting, waitingBefore: before.waiting }));
`,
    );

    expect(run.code, run.stderr).toBe(0);
    expect(run.report).toMatchObject({ waiting: 'PoolClosedError', waitingBefore: 1 });
    expect(run.exitedAt - (run.report?.closedAt as number)).toBeLessThan(5_000);
  });
});
