import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './setup/db.js';

/**
 * The README and docs/*.md: the shape of the front page, no reference to documents a reader does not have,
 * links that resolve, and every ```ts block type-checked against the sources (the quick start also run).
 * Conventions for the blocks are documented in docs/README.md ("Code in these pages").
 */

const root = resolve(import.meta.dirname, '..');
const tscBin = resolve(root, 'node_modules/typescript/bin/tsc');
const tsxLoader = resolve(root, 'node_modules/tsx/dist/loader.mjs');

interface Snippet {
  /** The markdown file, relative to the project root. */
  file: string;
  /** 1-based line of the first code line in that file. */
  line: number;
  /** The fenced block's info string, e.g. `ts` or `ts fragment`. */
  info: string;
  code: string;
}

async function markdownFiles(): Promise<string[]> {
  const docs = (await readdir(resolve(root, 'docs')))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs.sort()];
}

/** Every fenced block of a markdown text, with where its code starts. */
function fencedBlocks(file: string, text: string): Snippet[] {
  const blocks: Snippet[] = [];
  const lines = text.split('\n');
  let open: { info: string; line: number; body: string[] } | undefined;
  lines.forEach((line, index) => {
    const fence = /^```(.*)$/.exec(line);
    if (open === undefined) {
      if (fence) open = { info: (fence[1] ?? '').trim(), line: index + 2, body: [] };
    } else if (line === '```') {
      blocks.push({ file, line: open.line, info: open.info, code: open.body.join('\n') });
      open = undefined;
    } else {
      open.body.push(line);
    }
  });
  if (open !== undefined) throw new Error(`${file}:${open.line - 1}: unclosed code fence`);
  return blocks;
}

function isChecked(snippet: Snippet): boolean {
  const [lang, ...flags] = snippet.info.split(/\s+/);
  return (lang === 'ts' || lang === 'typescript') && !flags.includes('fragment');
}

/** Where `import 'pg-scope…'` resolves to: each entry of package.json `exports`, from dist/ back to src/. */
async function sourcePaths(): Promise<Record<string, string[]>> {
  const pkg = JSON.parse(await readFile(resolve(root, 'package.json'), 'utf8')) as {
    name: string;
    exports: Record<string, string | { types?: string; import?: string }>;
  };
  const paths: Record<string, string[]> = {};
  for (const [key, target] of Object.entries(pkg.exports)) {
    const built = typeof target === 'string' ? target : (target.import ?? target.types);
    if (built === undefined || !built.startsWith('./dist/') || !built.endsWith('.js')) continue;
    const source = resolve(root, `src/${built.slice('./dist/'.length, -'.js'.length)}.ts`);
    paths[key === '.' ? pkg.name : `${pkg.name}/${key.slice(2)}`] = [source];
  }
  return paths;
}

/** Names a block may use without declaring them: see docs/README.md. A block's own declarations shadow them. */
const prelude = `import type { Pool, Transaction } from 'pg-scope';

declare global {
  var pool: Pool;
  var connectionString: string;
  var fn: (tx: Transaction) => Promise<void>;
}
`;

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    execFile(
      command,
      args,
      { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        done({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe('README.md and docs/', () => {
  let files: string[];
  let texts: Map<string, string>;
  let snippets: Snippet[];
  let workDir: string;
  let tsconfigPath: string;

  beforeAll(async () => {
    files = await markdownFiles();
    texts = new Map(
      await Promise.all(files.map(async (f) => [f, await readFile(resolve(root, f), 'utf8')] as const)),
    );
    snippets = files.flatMap((f) => fencedBlocks(f, texts.get(f) ?? ''));
    // Inside the project, so that node_modules (pg, express, kysely…) resolve as for the project's own code.
    workDir = await mkdtemp(resolve(root, '.docs-snippets-'));
    tsconfigPath = join(workDir, 'tsconfig.json');
    const base = JSON.parse(await readFile(resolve(root, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: Record<string, unknown>;
    };
    await writeFile(
      tsconfigPath,
      JSON.stringify({
        compilerOptions: { ...base.compilerOptions, rootDir: root, noEmit: true, paths: await sourcePaths() },
        include: ['*.ts'],
      }),
    );
  });

  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('README.md is a front page: at most 200 lines', () => {
    const lines = (texts.get('README.md') ?? '').trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(200);
    expect(lines.length).toBeGreaterThan(50);
  });

  it('no line of README.md or docs/*.md is longer than 120 characters, tables included', () => {
    const long = files.flatMap((f) =>
      (texts.get(f) ?? '')
        .split('\n')
        .map((line, i) => ({ where: `${f}:${i + 1}`, length: [...line].length }))
        .filter((l) => l.length > 120),
    );
    expect(long).toEqual([]);
  });

  it('nothing refers to documents a reader does not have', () => {
    const forbidden = [
      /\bSPEC\b/,
      /specification/i,
      /\brule \d+/i,
      /DBPool/,
      /\bissue #?\d+/i,
      /the article/i,
    ];
    const hits = files.flatMap((f) =>
      (texts.get(f) ?? '')
        .split('\n')
        .flatMap((line, i) => forbidden.filter((re) => re.test(line)).map((re) => `${f}:${i + 1} ${re}`)),
    );
    expect(hits).toEqual([]);
  });

  it('every relative link points at a file of the project, and at a heading of it when it names one', async () => {
    const missing: string[] = [];
    for (const f of files) {
      for (const match of (texts.get(f) ?? '').matchAll(/\]\(([^)\s]+)\)/g)) {
        const [target = '', anchor] = (match[1] ?? '').split('#');
        if (/^[a-z]+:/.test(target)) continue;
        const path = target === '' ? resolve(root, f) : resolve(root, dirname(f), target);
        const ok = await readdir(dirname(path))
          .then((names) => names.includes(relative(dirname(path), path)))
          .catch(() => false);
        if (!ok) {
          missing.push(`${f}: ${target}`);
        } else if (anchor !== undefined && path.endsWith('.md')) {
          const text = texts.get(relative(root, path)) ?? (await readFile(path, 'utf8'));
          if (!headingSlugs(text).has(anchor)) missing.push(`${f}: ${match[1]}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('the README has a quick start that creates its table and closes a module-level pool on SIGTERM', () => {
    const quickStart = quickStartOf(snippets);
    expect(quickStart.code).toMatch(/create table if not exists accounts/);
    expect(quickStart.code).toMatch(/^export const pool = createPool\(/m);
    expect(quickStart.code).toMatch(/process\.once\('SIGTERM'[\s\S]*await pool\.close\(\)/);
    expect(quickStart.code).not.toMatch(/await using pool/);
  });

  it('every ```ts block type-checks against the sources with the project tsc', async () => {
    const checked = snippets.filter(isChecked);
    // The front page's quick start and both scope forms, and at least one block per reference page with code.
    expect(checked.filter((s) => s.file === 'README.md').length).toBeGreaterThanOrEqual(2);
    expect(checked.length).toBeGreaterThanOrEqual(10);
    const names = new Map<string, Snippet>();
    await writeFile(join(workDir, 'prelude.d.ts'), prelude);
    await Promise.all(
      checked.map((snippet, i) => {
        const name = `snippet-${i}.ts`;
        names.set(name, snippet);
        // `export {}` makes every block a module, so their top-level names cannot collide.
        return writeFile(join(workDir, name), `${snippet.code}\nexport {};\n`);
      }),
    );
    const result = await run(process.execPath, [tscBin, '-p', tsconfigPath, '--pretty', 'false'], workDir);
    // Report each error at its place in the markdown file.
    const located = result.output.replace(/(snippet-\d+\.ts)\((\d+),(\d+)\)/g, (whole, name, line, col) => {
      const snippet = names.get(name);
      return snippet ? `${snippet.file}:${snippet.line + Number(line) - 1}:${col}` : whole;
    });
    expect(located.trim()).toBe('');
    expect(result.code).toBe(0);
  }, 120_000);

  it('a block that does not type-check is reported (the check is not vacuous)', async () => {
    const dir = await mkdtemp(join(workDir, 'bad-'));
    await writeFile(join(dir, 'prelude.d.ts'), prelude);
    await writeFile(join(dir, 'bad.ts'), "await pool.transaction({ isolation: 'sometimes' });\nexport {};\n");
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({ extends: tsconfigPath, include: ['*.ts'] }));
    const result = await run(
      process.execPath,
      [tscBin, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'],
      dir,
    );
    expect(result.output).toMatch(/bad\.ts\(1,\d+\): error TS\d+/);
    expect(result.code).not.toBe(0);
  }, 120_000);

  describe('the quick start, run', () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await createTestDatabase();
    });

    afterAll(async () => {
      await db?.drop();
    });

    it('moves money, rolls back the overdraft, and exits 0 once SIGTERM has closed the pool', async () => {
      const file = join(workDir, 'quick-start.ts');
      await writeFile(file, quickStartOf(snippets).code);
      const child = spawn(process.execPath, ['--import', tsxLoader, file], {
        cwd: workDir,
        env: { ...process.env, DATABASE_URL: db.url, TSX_TSCONFIG_PATH: tsconfigPath, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
        child.on('exit', (code, signal) => done({ code, signal })),
      );
      // The script's last line prints the balances; until SIGTERM its idle connections keep it alive.
      const deadline = Date.now() + 60_000;
      while (!stdout.includes("id: 'bob'") && child.exitCode === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(child.exitCode, `${stdout}\n${stderr}`).toBeNull();
      expect(stdout).toContain('cannot take 1000 from bob');
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<'stuck'>((done) => {
        timer = setTimeout(() => done('stuck'), 20_000);
      });
      const outcome = await Promise.race([exited, stuck]);
      clearTimeout(timer);
      if (outcome === 'stuck') child.kill('SIGKILL');
      expect(outcome, 'still running 20 s after SIGTERM: the pool was not closed').not.toBe('stuck');
      const { code, signal } = await exited;
      // Killed by the signal (no handler) would be signal 'SIGTERM'; a pool left open would never exit.
      expect({ code, signal }, stderr).toEqual({ code: 0, signal: null });
      const { rows } = await db.admin('select id, balance from accounts order by id');
      expect(rows).toEqual([
        { id: 'alice', balance: 70 },
        { id: 'bob', balance: 30 },
      ]);
    }, 90_000);
  });
});

/** The README's quick start: its first checked ```ts block that makes a pool. */
function quickStartOf(snippets: Snippet[]): Snippet {
  const readme = snippets.filter((s) => s.file === 'README.md' && isChecked(s));
  const quickStart = readme.find((s) => s.code.includes('createPool('));
  if (quickStart === undefined) throw new Error('README.md has no ```ts block with createPool(');
  return quickStart;
}

/** The anchors GitHub makes for a markdown text's headings: lower case, punctuation dropped, spaces as `-`. */
function headingSlugs(text: string): Set<string> {
  const slugs = new Set<string>();
  for (const match of text.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)) {
    const base = (match[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    let slug = base;
    for (let n = 1; slugs.has(slug); n++) slug = `${base}-${n}`;
    slugs.add(slug);
  }
  return slugs;
}
