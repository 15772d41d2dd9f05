import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** pg-scope's public module. */
export type PgScopeModule = typeof import('../src/index.js');

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * Inside node_modules so the compiled files resolve `pg`, `pino` and `generic-pool` as the package would.
 * PG_SCOPE_BENCH_DIR names another folder under `node_modules/.cache` (to keep a compiled copy to compare with).
 */
const OUT_DIR = join(ROOT, 'node_modules', '.cache', process.env.PG_SCOPE_BENCH_DIR ?? 'pg-scope-bench');

let loading: Promise<{ module: PgScopeModule; source: string }> | undefined;

function compile(): Promise<void> {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', 'tsconfig.build.json', '--outDir', OUT_DIR, '--declaration', 'false'];
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...args, '--sourceMap', 'false'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk;
    });
    child.on('error', fail);
    // tsc exits non-zero on a type error but still writes the JavaScript; only missing output is fatal.
    child.on('exit', () =>
      existsSync(join(OUT_DIR, 'index.js')) ? done() : fail(new Error(`tsc wrote nothing:\n${output}`)),
    );
  });
}

/**
 * pg-scope as users run it: `src` compiled by the project's `tsc` (as `npm run build` does for the published
 * package), so it runs as plain JavaScript like every other library here. If that fails, `src` through the
 * TypeScript loader. Compiled once per process.
 */
export function loadPgScope(): Promise<{ module: PgScopeModule; source: string }> {
  loading ??= (async () => {
    try {
      // PG_SCOPE_BENCH_REUSE=1 (the hot-path driver under a profiler): the last compiled copy, when there is one.
      if (process.env.PG_SCOPE_BENCH_REUSE !== '1' || !existsSync(join(OUT_DIR, 'index.js'))) {
        await rm(OUT_DIR, { recursive: true, force: true });
        await compile();
      }
      const url = pathToFileURL(join(OUT_DIR, 'index.js')).href;
      return { module: (await import(url)) as PgScopeModule, source: 'src compiled by tsc, as published' };
    } catch (err) {
      process.stderr.write(`[bench] could not compile pg-scope, using src through tsx: ${String(err)}\n`);
      return { module: await import('../src/index.js'), source: 'src through the tsx loader: tsc failed' };
    }
  })();
  return loading;
}
