/**
 * What observability costs per transaction in client CPU instructions, counted by valgrind's callgrind: unlike
 * time, the count hardly moves with the load on the machine. Each variant runs twice in a process of its own
 * (bench/observability-instructions-child.mjs: `WARMUP` transfers, then `LOW` or `HIGH` more, one after
 * another on a pool of 2); the difference between the two counts over `HIGH - LOW` is the cost of one
 * transfer (three statements, BEGIN and COMMIT) once warm, without the start-up. The variants: no
 * subscriber, a subscriber that does nothing on every channel, subscribers that do nothing on just the events
 * `instrumentPool` listens to (what the channels cost pg-scope itself), `instrumentPool` (metrics and transaction
 * spans; the SDK's meter provider with a reader that collects nothing during the run, the tracer provider
 * with a batch processor exporting to nothing), and `instrumentPool` with query spans.
 *
 *     DATABASE_URL=postgres://… npx tsx bench/observability-instructions.ts   # needs valgrind on PATH
 *     PG_SCOPE_DIR=… (another compiled tree, inside node_modules) LOW=100 HIGH=400 WARMUP=100 VARIANTS=otel
 *
 * The database needs the bench schema (bench/sql.ts); `npx tsx bench/observability-overhead.ts` makes it.
 * Prints the figures and writes them to bench/OBSERVABILITY-INSTRUCTIONS.md. Not a test: it asserts nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadPgScope } from './pg-scope-build.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WARMUP = Number(process.env.WARMUP ?? 100);
const LOW = Number(process.env.LOW ?? 100);
const HIGH = Number(process.env.HIGH ?? 400);
const PARALLEL = Number(process.env.PARALLEL ?? 2);
const VARIANTS = [
  { key: 'none', name: 'no subscriber' },
  { key: 'noop', name: 'a subscriber that does nothing, on every channel' },
  {
    key: 'noop-otel',
    name: 'subscribers that do nothing on the events instrumentPool listens to (pg-scope’s own share)',
  },
  { key: 'otel', name: 'instrumentPool (metrics + transaction spans)' },
  { key: 'otel-query', name: 'instrumentPool with querySpans: true' },
] as const;

/** Instructions callgrind counted in one child process. */
async function count(dir: string, variant: string, transfers: number, scratch: string): Promise<number> {
  const out = join(scratch, `${variant}-${transfers}.out`);
  const { stderr } = await run(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      process.execPath,
      // No background compiler threads: their work would land in either run at random.
      '--single-threaded',
      join(ROOT, 'bench', 'observability-instructions-child.mjs'),
    ],
    {
      env: {
        ...process.env,
        PG_SCOPE_DIR: dir,
        VARIANT: variant,
        WARMUP: String(WARMUP),
        COUNT: String(transfers),
      },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  const collected = /Collected : (\d+)/.exec(stderr)?.[1];
  if (!collected) throw new Error(`no instruction count for ${variant}:\n${stderr.slice(-2000)}`);
  return Number(collected);
}

/** `VARIANTS=none,otel`: only those (`none` always, the reference). */
const only = process.env.VARIANTS?.split(',');
const variants = VARIANTS.filter((v) => v.key === 'none' || !only || only.includes(v.key));

async function main(): Promise<void> {
  if (!process.env.DATABASE_URL) throw new Error('set DATABASE_URL (a database with the bench schema)');
  let dir = process.env.PG_SCOPE_DIR;
  if (!dir) {
    await loadPgScope();
    dir = join(ROOT, 'node_modules', '.cache', 'pg-scope-bench');
  }
  const scratch = await mkdtemp(join(tmpdir(), 'pg-scope-callgrind-'));
  try {
    const jobs = variants.flatMap((v) => [LOW, HIGH].map((n) => ({ variant: v.key, n })));
    const counts = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      for (let job = jobs[next++]; job; job = jobs[next++]) {
        counts.set(`${job.variant}-${job.n}`, await count(dir, job.variant, job.n, scratch));
        process.stderr.write(`${job.variant} × ${job.n} done\n`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const perTransfer = (key: string) =>
      ((counts.get(`${key}-${HIGH}`) ?? 0) - (counts.get(`${key}-${LOW}`) ?? 0)) / (HIGH - LOW);
    const none = perTransfer('none');
    const lines = variants.map((v) => {
      const each = perTransfer(v.key);
      const against =
        v.key === 'none' ? '' : `; ${(((each - none) / none) * 100).toFixed(1)}% over no subscriber`;
      return `- ${v.name}: ${Math.round(each / 1000)}k instructions per transfer${against}`;
    });
    const report = [
      '# Observability cost in instructions',
      '',
      'Generated by `DATABASE_URL=… npx tsx bench/observability-instructions.ts`; do not edit by hand.',
      '',
      `Client instructions per transfer (three statements, BEGIN and COMMIT; one caller, a pool of 2) counted by ` +
        `valgrind's callgrind, Node ${process.version} with \`--single-threaded\`: the count of ${WARMUP} + ${HIGH} ` +
        `transfers minus that of ${WARMUP} + ${LOW}, over ${HIGH - LOW}. The meter provider collects nothing ` +
        'during the run (a collection is a cost per second, not per transaction).',
      '',
      ...lines,
      '',
      'Read with care: these counts are not free of timing. How many event-loop turns, socket reads and ' +
        'garbage collections a transfer takes depends on when the server answers, and on a loaded machine ' +
        'repeated runs of one variant moved by ±2% (no subscriber, three runs) up to ±30% (a run made while ' +
        'the test suite ran). Only large differences mean something; the direct attribution of CPU time to ' +
        "pg-scope's and the SDK's functions (docs/performance.md) separates their shares better.",
      '',
    ].join('\n');
    if (!process.env.PG_SCOPE_DIR)
      await writeFile(join(ROOT, 'bench', 'OBSERVABILITY-INSTRUCTIONS.md'), report);
    process.stdout.write(`${report}\n`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
