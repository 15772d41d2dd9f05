/**
 * What observability costs `transfer-conc` (32 workers on a pool of 10, three-statement transfers): the code
 * of `BASELINE_REF` (default `main`: before the channels, if it predates them), this tree with no
 * diagnostics_channel subscriber, with a subscriber that does nothing on every pg-scope channel, and with
 * `instrumentPool` (metrics and transaction spans, OpenTelemetry SDK 2.x, exporters that drop everything) —
 * measured in the same run, variants interleaved round by round, each round starting with a different one.
 * Both trees are compiled by tsc and run as plain JavaScript, as users run the package.
 *
 *     npx tsx bench/observability-overhead.ts            # DATABASE_URL, or an embedded PostgreSQL
 *     ROUNDS=9 MILLIS=2000 BASELINE_REF=v0.1.0 npx tsx bench/observability-overhead.ts
 *
 * Prints the figures and writes them to bench/OBSERVABILITY.md. Not a test: it asserts nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import diagnostics_channel from 'node:diagnostics_channel';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, devNull, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { pino } from 'pino';
import { ChannelName, type Pool } from '../src/index.js';
import { openDatabase } from './database.js';
import { runFor } from './measure.js';
import { noopProviders, transfer } from './otel-noop.js';
import { loadPgScope, type PgScopeModule } from './pg-scope-build.js';
import { CONC_WORKERS, POOL_SIZE } from './settings.js';
import { median } from './stats.js';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const MILLIS = Number(process.env.MILLIS ?? 1_500);
const WARMUP_MILLIS = Number(process.env.WARMUP_MILLIS ?? 1_000);
const BASELINE_REF = process.env.BASELINE_REF ?? 'main';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where `loadPgScope` compiles this tree (see pg-scope-build.ts). */
const THIS_TREE_OUT = join(ROOT, 'node_modules', '.cache', 'pg-scope-bench');
/** Inside node_modules, so the compiled baseline resolves pg, pino and generic-pool as the package would. */
const BASELINE_DIR = join(ROOT, 'node_modules', '.cache', 'pg-scope-bench-baseline');

/** `BASELINE_REF`'s src, compiled by this tree's tsc; its module. */
async function loadBaseline(): Promise<{ module: PgScopeModule; commit: string }> {
  const commit = execFileSync('git', ['rev-parse', '--short', BASELINE_REF], { cwd: ROOT }).toString().trim();
  await rm(BASELINE_DIR, { recursive: true, force: true });
  const tree = join(BASELINE_DIR, 'tree');
  await mkdir(tree, { recursive: true });
  const archive = spawnSync('git', ['archive', BASELINE_REF, 'src', 'tsconfig.json', 'tsconfig.build.json'], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (archive.status !== 0) throw new Error(`git archive ${BASELINE_REF} failed: ${archive.stderr}`);
  execFileSync('tar', ['-x', '-C', tree], { input: archive.stdout });
  const out = join(BASELINE_DIR, 'out');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc exits non-zero on a type error but still writes the JavaScript; only missing output is fatal.
  spawnSync(process.execPath, [
    tsc,
    '-p',
    join(tree, 'tsconfig.build.json'),
    '--outDir',
    out,
    '--declaration',
    'false',
    '--sourceMap',
    'false',
  ]);
  const entry = join(out, 'index.js');
  if (!existsSync(entry)) throw new Error(`could not compile ${BASELINE_REF}`);
  return { module: (await import(pathToFileURL(entry).href)) as PgScopeModule, commit };
}

/** A variant: the code it runs, and what to switch on before its measurement (returns what switches it off). */
interface Variant {
  readonly name: string;
  readonly baseline?: true;
  on(pool: Pool): () => void;
}

type InstrumentPool = typeof import('../src/adapters/otel.js').instrumentPool;
let instrumentPool: InstrumentPool;

const noop = () => {};
const VARIANTS: readonly Variant[] = [
  { name: `${BASELINE_REF} (the baseline)`, baseline: true, on: () => noop },
  { name: 'this tree, no subscriber', on: () => noop },
  {
    name: 'this tree, a subscriber that does nothing, on every channel',
    on() {
      const tracing = [ChannelName.acquire, ChannelName.transaction, ChannelName.query].map((name) => {
        const channel = diagnostics_channel.tracingChannel(name);
        const handlers = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
        channel.subscribe(handlers);
        return () => channel.unsubscribe(handlers);
      });
      const plain = [ChannelName.transactionAttempt, ChannelName.connect, ChannelName.release].map((name) => {
        diagnostics_channel.subscribe(name, noop);
        return () => diagnostics_channel.unsubscribe(name, noop);
      });
      return () => {
        for (const off of [...tracing, ...plain]) off();
      };
    },
  },
  {
    name: 'this tree, instrumentPool (metrics + transaction spans), no-op exporters',
    on(pool) {
      const providers = noopProviders();
      const undo = instrumentPool(pool, providers);
      return () => {
        undo();
        providers.shutdown();
      };
    },
  },
];

function percent(value: number): string {
  return `${value > 0 ? '+' : ''}${(value * 100).toFixed(1)}%`;
}

async function main(): Promise<void> {
  // What a service running the OpenTelemetry SDK has: the async-hooks context manager, for every variant alike.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const current = await loadPgScope();
  instrumentPool = (
    (await import(pathToFileURL(join(THIS_TREE_OUT, 'adapters', 'otel.js')).href)) as {
      instrumentPool: InstrumentPool;
    }
  ).instrumentPool;
  const baseline = await loadBaseline();
  const db = await openDatabase();
  const logger = pino({ level: 'warn' }, pino.destination({ dest: devNull, sync: true }));
  const pools = VARIANTS.map((v) =>
    (v.baseline ? baseline.module : current.module).createPool({
      connectionString: db.url,
      max: POOL_SIZE,
      application_name: 'pg-scope-bench-observability',
      logger,
    }),
  );
  try {
    const loadBefore = loadavg()[0] ?? 0;
    for (const [i, v] of VARIANTS.entries()) {
      const pool = pools[i] as Pool;
      const off = v.on(pool);
      await runFor(WARMUP_MILLIS, CONC_WORKERS, () => transfer(pool));
      off();
    }
    const samples = VARIANTS.map(() => [] as { throughput: number; cpuPerOp: number }[]);
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < VARIANTS.length; k++) {
        const i = (round + k) % VARIANTS.length;
        const pool = pools[i] as Pool;
        const off = (VARIANTS[i] as Variant).on(pool);
        const figures = await runFor(MILLIS, CONC_WORKERS, () => transfer(pool));
        off();
        samples[i]?.push({ throughput: figures.throughput ?? 0, cpuPerOp: figures.cpuPerOp ?? 0 });
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
    // Paired: each round's sample against the same round's reference, so drifting load cancels; median of those.
    const cost = (i: number, ref: number) => {
      const s = samples[i] ?? [];
      const base = samples[ref] ?? [];
      const throughput = 1 - median(s.map((x, r) => x.throughput / (base[r]?.throughput ?? Number.NaN)));
      const cpu = median(s.map((x, r) => x.cpuPerOp / (base[r]?.cpuPerOp ?? Number.NaN))) - 1;
      return `throughput ${percent(throughput)}, CPU ${percent(cpu)}`;
    };
    const lines = VARIANTS.map((v, i) => {
      const s = samples[i] ?? [];
      const tput = s.map((x) => x.throughput);
      const against = i === 0 ? [] : [`cost against the baseline: ${cost(i, 0)}`];
      if (i > 1) against.push(`against no subscriber: ${cost(i, 1)}`);
      return (
        `- ${v.name}: median ${Math.round(median(tput))} transfers/s ` +
        `(rounds ${Math.round(Math.min(...tput))}–${Math.round(Math.max(...tput))}), ` +
        `client CPU ${median(s.map((x) => x.cpuPerOp)).toFixed(1)} µs/transfer` +
        (against.length > 0 ? `; ${against.join('; ')}` : '')
      );
    });
    const report = [
      '# Observability overhead',
      '',
      'Generated by `npx tsx bench/observability-overhead.ts`; do not edit by hand.',
      '',
      `Baseline: \`${BASELINE_REF}\` (${baseline.commit}). ` +
        `transfer-conc: ${CONC_WORKERS} workers on a pool of ${POOL_SIZE}, transfers of three statements, ` +
        `${ROUNDS} rounds × ${VARIANTS.length} variants × ${MILLIS} ms, interleaved (each round starts with ` +
        `another variant), after ${WARMUP_MILLIS} ms of warm-up per variant. A cost is the median over the ` +
        'rounds of the variant against the baseline of the same round (negative: faster, i.e. noise). The ' +
        'OpenTelemetry variant runs the SDK 2.x meter provider (a periodic reader every second) and tracer ' +
        'provider (batch span processor), both exporting to nothing, and the async-hooks context manager ' +
        '(set for every variant).',
      '',
      `Node ${process.version}, PostgreSQL ${db.serverVersion} (${db.source}), ` +
        `${new Date().toISOString().slice(0, 10)}; ${availableParallelism()} CPUs, load average ` +
        `${loadBefore.toFixed(1)} at the start and ${(loadavg()[0] ?? 0).toFixed(1)} at the end (other work on ` +
        'the machine shows in the ranges: compare the variants of one run, not runs).',
      '',
      ...lines,
      '',
      'Targets: within noise (≤ 1%) with no subscriber — nothing is built then, each publishing point is one ' +
        '`hasSubscribers` check — and ≤ 5% with OpenTelemetry on.',
      '',
    ].join('\n');
    await writeFile(new URL('./OBSERVABILITY.md', import.meta.url), report);
    process.stdout.write(`${report}\n`);
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await db.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
