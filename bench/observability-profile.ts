/**
 * Where the CPU time of observability goes: transfer-conc (32 workers on a pool of 10) with no subscriber,
 * with a subscriber that does nothing on every channel, and with `instrumentPool` (no-op exporters), variants
 * interleaved round by round, each round under V8's sampling profiler (`node:inspector`, 50 µs interval).
 * Prints the self time per transfer by area (pg-scope's channels, its OpenTelemetry adapter,
 * diagnostics_channel, the async context, the OpenTelemetry API and SDK, pg, …) and the instrumentation's
 * functions. The profiler makes everything slower: read the shares, not the microseconds.
 *
 *     DATABASE_URL=postgres://… npx tsx bench/observability-profile.ts
 *     ROUNDS=4 COUNT=2500 PROFILE_DIR=/tmp/profiles npx tsx bench/observability-profile.ts   # keeps the profiles
 *     PG_SCOPE_BENCH_DIR=old PG_SCOPE_BENCH_REUSE=1 npx tsx …   # a tree compiled earlier into node_modules/.cache/old
 *
 * The database needs the bench schema (bench/sql.ts); `npx tsx bench/observability-overhead.ts` makes it.
 * Not a test: it asserts nothing.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import type { Pool } from '../src/index.js';
import { noopProviders, transfer } from './otel-noop.js';
import { loadPgScope } from './pg-scope-build.js';
import { CONC_WORKERS, POOL_SIZE } from './settings.js';

const ROUNDS = Number(process.env.ROUNDS ?? 4);
const COUNT = Number(process.env.COUNT ?? 2_500);
const MODES = ['none', 'noop', 'otel'] as const;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where loadPgScope compiles this tree (or, with PG_SCOPE_BENCH_REUSE=1, finds an earlier compiled copy). */
const TREE_DIR = process.env.PG_SCOPE_BENCH_DIR ?? 'pg-scope-bench';
type Mode = (typeof MODES)[number];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The area a frame belongs to. */
function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : 'native (syscalls, builtins)';
  if (url.includes('@opentelemetry/context-async-hooks') || url.includes('@opentelemetry/api'))
    return 'OpenTelemetry API and context manager';
  if (url.includes('@opentelemetry')) return 'OpenTelemetry SDK';
  if (url.includes('node_modules/pg')) return 'pg';
  if (url.includes('/adapters/')) return 'pg-scope: OpenTelemetry adapter';
  if (/logging\/channels|tx\/tx-trace|pool\/pool-channels/.test(url)) return 'pg-scope: channel publishing';
  if (url.includes('pg-scope-bench') || url.includes('/src/')) return 'pg-scope: the rest';
  if (url.includes('diagnostics_channel')) return 'node:diagnostics_channel';
  if (/async_local_storage|async_context_frame|async_hooks/.test(url)) return 'node: async context';
  if (url.startsWith('node:')) return 'node: the rest';
  return 'other';
}

/** Self time (µs) by area and by instrumentation function, added up over `profiles`. */
function selfTimes(profiles: Profile[]): { areas: Map<string, number>; functions: Map<string, number> } {
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  const instrumentation = /pg-scope: (OpenTelemetry|channel)|OpenTelemetry|diagnostics_channel|async context/;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < profile.samples.length; i++) {
      const frame = byId.get(profile.samples[i] as number)?.callFrame;
      if (!frame) continue;
      const micros = profile.timeDeltas[i + 1] ?? 0;
      const area = areaOf(frame.url, frame.functionName);
      areas.set(area, (areas.get(area) ?? 0) + micros);
      if (!instrumentation.test(area)) continue;
      const file = frame.url.replace(/^.*node_modules\/(\.cache\/[^/]+\/)?/, '');
      const key = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
      functions.set(key, (functions.get(key) ?? 0) + micros);
    }
  }
  return { areas, functions };
}

async function transfers(pool: Pool, count: number): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started++ < count) await transfer(pool);
  };
  await Promise.all(Array.from({ length: CONC_WORKERS }, worker));
}

const noop = () => {};

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL (a database with the bench schema)');
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const { module } = await loadPgScope();
  const otel = (await import(
    pathToFileURL(join(ROOT, 'node_modules', '.cache', TREE_DIR, 'adapters', 'otel.js')).href
  )) as typeof import('../src/adapters/otel.js');
  const { ChannelName } = module;
  const on = (mode: Mode, pool: Pool): (() => void) => {
    if (mode === 'noop') {
      const handlers = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };
      const tracing = [ChannelName.acquire, ChannelName.transaction, ChannelName.query];
      const plain = [ChannelName.transactionAttempt, ChannelName.connect, ChannelName.release];
      for (const name of tracing) diagnostics_channel.tracingChannel(name).subscribe(handlers);
      for (const name of plain) diagnostics_channel.subscribe(name, noop);
      return () => {
        for (const name of tracing) diagnostics_channel.tracingChannel(name).unsubscribe(handlers);
        for (const name of plain) diagnostics_channel.unsubscribe(name, noop);
      };
    }
    if (mode === 'otel') {
      const providers = noopProviders();
      const undo = otel.instrumentPool(pool, providers);
      return () => {
        undo();
        providers.shutdown();
      };
    }
    return noop;
  };
  const pools = MODES.map(() =>
    module.createPool({ connectionString: url, max: POOL_SIZE, application_name: 'pg-scope-bench-profile' }),
  );
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 50 });
  const profiles = MODES.map(() => [] as Profile[]);
  const dir = process.env.PROFILE_DIR;
  if (dir) await mkdir(dir, { recursive: true });
  try {
    for (const [i, mode] of MODES.entries()) {
      const off = on(mode, pools[i] as Pool);
      await transfers(pools[i] as Pool, 1_000);
      off();
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (let k = 0; k < MODES.length; k++) {
        const i = (round + k) % MODES.length;
        const off = on(MODES[i] as Mode, pools[i] as Pool);
        await session.post('Profiler.start');
        await transfers(pools[i] as Pool, COUNT);
        const { profile } = await session.post('Profiler.stop');
        off();
        profiles[i]?.push(profile as Profile);
        if (dir) await writeFile(join(dir, `${MODES[i]}-${round}.cpuprofile`), JSON.stringify(profile));
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
  } finally {
    session.disconnect();
    await Promise.all(pools.map((p) => p.close()));
  }
  const times = profiles.map(selfTimes);
  const perTransfer = (micros: number | undefined) =>
    ((micros ?? 0) / (COUNT * ROUNDS)).toFixed(1).padStart(9);
  const header = MODES.map((m) => m.padStart(9)).join('');
  const areaNames = [...new Set(times.flatMap((t) => [...t.areas.keys()]))].filter((a) => a !== '(idle)');
  const busy = times.map((t) => [...t.areas].reduce((sum, [a, v]) => (a === '(idle)' ? sum : sum + v), 0));
  const lines = [
    `Self time per transfer (µs, under the profiler), ${ROUNDS} rounds × ${COUNT} transfers per variant`,
    `${header}  area`,
    `${busy.map(perTransfer).join('')}  busy (all but idle)`,
    ...areaNames
      .sort((a, b) => (times[2]?.areas.get(b) ?? 0) - (times[2]?.areas.get(a) ?? 0))
      .map((a) => `${times.map((t) => perTransfer(t.areas.get(a))).join('')}  ${a}`),
    '',
    `${header}  instrumentation function`,
    ...[...new Set(times.flatMap((t) => [...t.functions.keys()]))]
      .sort((a, b) => (times[2]?.functions.get(b) ?? 0) - (times[2]?.functions.get(a) ?? 0))
      .slice(0, 40)
      .map((f) => `${times.map((t) => perTransfer(t.functions.get(f))).join('')}  ${f}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
