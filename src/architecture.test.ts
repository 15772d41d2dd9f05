import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(
  new URL('../node_modules/dependency-cruiser/bin/dependency-cruiser.mjs', import.meta.url),
);

/** Runs the project's dependency rules (`npm run deps`) on `target`: the exit code and the report. */
function cruise(target: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, target, '--config', '.dependency-cruiser.cjs', '--output-type', 'err'],
      { cwd: root },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: unknown }).code ?? 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe('the layers of src/ (dependency-cruiser rules, run in CI as `npm run deps`)', () => {
  it('src/ keeps them: no cycle, pool below tx below scope, adapters through the public API', async () => {
    const { code, out } = await cruise('src');
    expect(out).toContain('no dependency violations found');
    expect(code).toBe(0);
  }, 60_000);

  it('an import cycle made on purpose fails the check', async () => {
    const { code, out } = await cruise('tools/deps-fixtures/cycle');
    expect(code).not.toBe(0);
    expect(out).toContain('no-circular');
  }, 60_000);

  it('pool importing tx, and an adapter importing pool, fail the check', async () => {
    const { code, out } = await cruise('tools/deps-fixtures/layers');
    expect(code).not.toBe(0);
    expect(out).toContain('pool-not-above');
    expect(out).toContain('adapters-through-public-api');
  }, 60_000);

  // The TypeScript here is newer than dependency-cruiser's own TypeScript support (it prints a
  // missing-tsc-transpiler note); this shows it still sees imports that only bring in types.
  it('a type-only import of tx from pool fails the check too', async () => {
    const { code, out } = await cruise('tools/deps-fixtures/type-only');
    expect(code).not.toBe(0);
    expect(out).toContain('pool-not-above');
  }, 60_000);
});
