import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libraries } from '../bench/libraries/index.js';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

/** The workloads `npm run bench` must report, in the order of the results. */
const WORKLOADS = [
  'select1',
  'transfer-seq',
  'transfer-conc',
  'oversubscribed',
  'exhaustion',
  'transfer-seq-delayed',
] as const;

const ROOT = resolve(import.meta.dirname, '..');

interface Exit {
  code: number | null;
  output: string;
}

/** Runs the benchmark's quick mode against `url`, writing its table to `out`. */
/** How long the quick run may take (it takes 1–2 minutes on a quiet 2-core machine). */
const RUN_BOUND_MILLIS = 330_000;

function runQuickBench(url: string, out: string): Promise<Exit> {
  return new Promise((done, fail) => {
    const child = spawn(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      ['bench/run.ts', '--quick', '--out', out],
      {
        cwd: ROOT,
        // tsx starts `node` from PATH: make it the Node that runs the tests.
        env: {
          ...process.env,
          DATABASE_URL: url,
          PATH: [dirname(process.execPath), process.env.PATH].join(delimiter),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    // Bounded below the test's own timeout: a run that overstays is stopped, not left behind.
    const stop = setTimeout(() => {
      output += `\n[stopped after ${RUN_BOUND_MILLIS} ms]`;
      child.kill('SIGKILL');
    }, RUN_BOUND_MILLIS);
    child.on('error', (err) => {
      clearTimeout(stop);
      fail(err);
    });
    child.on('exit', (code) => {
      clearTimeout(stop);
      done({ code, output });
    });
  });
}

/** The markdown table rows (first cell → the row's cells) under the `### \`id\`:` heading. */
function tableRows(markdown: string, id: string): Map<string, string[]> {
  const start = markdown.indexOf(`### \`${id}\`:`);
  if (start < 0) return new Map();
  const end = markdown.indexOf('\n### ', start + 1);
  const section = markdown.slice(start, end < 0 ? markdown.length : end);
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| ---')) continue;
    const cells = line
      .slice(1, -1)
      .split(' | ')
      .map((c) => c.trim());
    rows.set(cells[0] ?? '', cells.slice(1));
  }
  return rows;
}

/**
 * The quick bench keeps every library's pool open at once (about 110 server connections), beside the other
 * test files running in parallel. On a server with fewer connection slots (a stock PostgreSQL has 100) it
 * would fail for want of slots, not for anything in the bench, so it runs where there is room: always on the
 * embedded server (300 slots), and on a DATABASE_URL server when that has 250 slots or more.
 */
async function connectionSlots(): Promise<number> {
  const db = await createTestDatabase();
  try {
    return Number((await db.admin('show max_connections')).rows[0]?.max_connections);
  } finally {
    await db.drop();
  }
}
const slots = await connectionSlots();
const ROOM = 250;
if (slots < ROOM) {
  console.log(
    `bench quick mode not run here: the server has ${slots} connection slots, the bench needs ${ROOM}`,
  );
}

describe.skipIf(slots < ROOM)('npm run bench -- --quick', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'pg-scope-bench-'));
  });

  afterAll(async () => {
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs every workload through every library and writes a table with a row for each', async () => {
    const out = join(dir, 'results.md');
    const exit = await runQuickBench(db.url, out);
    expect(exit.code, exit.output).toBe(0);
    const markdown = await readFile(out, 'utf8');
    for (const id of WORKLOADS) {
      const rows = tableRows(markdown, id);
      expect(rows.size, `table of ${id}`).toBeGreaterThan(0);
      // Opt-in contenders run only when named with --libs.
      for (const library of libraries.filter((l) => !l.optIn)) {
        const row = rows.get(library.name);
        expect(row, `row of ${library.name} in ${id}`).toBeDefined();
        // A measured figure everywhere; in `exhaustion`, what the third acquire met (the floor has no pool).
        const measured = id === 'exhaustion' ? row?.at(-1) : row?.[0];
        if (!(library.floor && id === 'exhaustion'))
          expect(measured, `${library.name} in ${id}`).not.toBe('—');
      }
    }
    expect(markdown).toContain('## Targets');
    expect(markdown).not.toContain(db.url);
  }, 360_000);
});
