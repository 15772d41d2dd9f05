import { execFile } from 'node:child_process';
import { chmod, cp, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const execFileAsync = promisify(execFile);
const root = resolve(import.meta.dirname, '..');

interface Run {
  code: number | null;
  output: string;
}

/**
 * `npm run demo`'s command in `project`, without DATABASE_URL and with no Docker engine in reach (a socket that
 * does not exist), so it starts its embedded server whatever legs the suite runs in.
 */
function runDemo(project: string, tempDir: string): Promise<Run> {
  const binDir = join(project, 'node_modules/.bin');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TMPDIR: tempDir,
    PATH: `${binDir}${delimiter}${process.env.PATH ?? ''}`,
    NO_COLOR: '1',
  };
  delete env.DATABASE_URL;
  env.DOCKER_HOST = `unix://${join(tempDir, 'no-docker.sock')}`;
  return new Promise((resolvePromise) => {
    execFile(
      join(binDir, 'tsx'),
      ['demo/demo.ts'],
      { cwd: project, env, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolvePromise({ code, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

/**
 * A copy of the project in a fresh `mktemp -d` directory (mode 700, as a clone in root's home directory):
 * the sources without .git and node_modules, and node_modules as hard links (a copy would take long).
 * Left out too: what other test files create and delete in the project while this one copies it
 * (`.docs-snippets-*` folders, `.vitest-*.json` reports), and build and coverage output.
 */
async function privateCopy(): Promise<{ parent: string; project: string }> {
  const parent = await mkdtemp(join(tmpdir(), 'pg-scope-clone-'));
  expect((await stat(parent)).mode & 0o777).toBe(0o700);
  const project = join(parent, 'project');
  await cp(root, project, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (source) =>
      !/[/\\](\.git|node_modules|dist|coverage|\.docs-snippets-[^/\\]*|\.vitest-[^/\\]*\.json)$/.test(source),
  });
  await execFileAsync('cp', ['-al', join(root, 'node_modules'), join(project, 'node_modules')]);
  return { parent, project };
}

/** Entries a run of the demo may leave behind in its temp directory: only the cache of binaries (and tsx its own cache). */
async function leftovers(tempDir: string): Promise<string[]> {
  return (await readdir(tempDir)).filter(
    (name) => !/^(pg-scope-postgres-[\w.-]+-[0-9a-f]{16}|tsx-\d+)$/.test(name),
  );
}

describe('a copy of the project in a private (mode 700) directory', () => {
  let parent: string;
  let project: string;

  beforeAll(async () => {
    ({ parent, project } = await privateCopy());
  }, 120_000);

  afterAll(async () => {
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  it('runs `npm run demo` on its embedded server, and leaves only the cache of binaries behind', async () => {
    // A temp directory of its own (traversable, as /tmp is), so the cache of binaries is made afresh.
    // It is outside the private directory, which stays mode 700 throughout.
    const tempDir = await mkdtemp(join(tmpdir(), 'pg-scope-tmp-'));
    await chmod(tempDir, 0o755);
    try {
      const run = await runDemo(project, tempDir);
      expect(run.output).not.toMatch(/Unhandled 'error' event|EACCES/);
      expect(run.code, run.output).toBe(0);
      expect(run.output).toMatch(/Demo finished in [\d.]+ s: all five steps passed\./);
      expect(await leftovers(tempDir)).toEqual([]);
      if (process.getuid?.() === 0) {
        const [cache] = await readdir(tempDir);
        const stats = await stat(join(tempDir, cache ?? 'missing'));
        expect(stats.uid).toBe(0);
        expect(stats.mode & 0o777).toBe(0o755);
      }
    } finally {
      await rm(tempDir, { recursive: true, force: true });
    }
  }, 120_000);

  it.runIf(process.getuid?.() === 0)(
    'fails at once with a message naming DATABASE_URL when the postgres user cannot reach the temp directory',
    async () => {
      // Private to root: neither the cache nor the data directory in it is reachable by `postgres`.
      const tempDir = await mkdtemp(join(parent, 'private-tmp-'));
      const run = await runDemo(project, tempDir);
      expect(run.code, run.output).toBe(1);
      expect(run.output).not.toMatch(/Unhandled 'error' event/);
      expect(run.output).toMatch(/set DATABASE_URL=postgres:\/\//);
      // The data directory and password file went with the failure.
      expect(await leftovers(tempDir)).toEqual([]);
    },
    120_000,
  );
});
