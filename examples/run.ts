/**
 * Runs one example against a PostgreSQL server: `npm run example <name>` (e.g. `npm run example bank-transfer`);
 * arguments after the name reach the example in `process.argv`. The server is `DATABASE_URL` when it is set,
 * else an embedded PostgreSQL 18 started for the run and deleted after it, as `npm run demo` does; either way
 * the example gets its URL as `main`'s argument and in `DATABASE_URL`. Exits 0 when `main` resolved, 1 when it
 * failed.
 */
import { readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import { inspect } from 'node:util';
import { runWithServer } from '../demo/server.js';

/** What every example exports. */
export type ExampleMain = (connectionString: string) => Promise<unknown>;

/** Runs `main` against a server and prints what it resolved with; sets the exit code. */
export async function runExample(main: ExampleMain): Promise<void> {
  await runWithServer(async (server) => {
    console.log(`Using ${server.description}.\n`);
    // For examples that read their server from the environment, as a service would.
    process.env.DATABASE_URL = server.url;
    const result = await main(server.url);
    if (result !== undefined)
      console.log(`\nmain() resolved with ${inspect(result, { depth: 4, colors: false })}`);
  });
}

/** The examples in this folder, by name. */
async function exampleNames(): Promise<string[]> {
  const files = await readdir(import.meta.dirname);
  return files
    .filter((file) => file.endsWith('.ts') && file !== 'run.ts')
    .map((file) => basename(file, '.ts'))
    .sort();
}

if (import.meta.main) {
  const names = await exampleNames();
  const name = process.argv[2]?.replace(/\.ts$/, '');
  if (name === undefined || !names.includes(name)) {
    console.error(`usage: npm run example <name>\n  where <name> is one of: ${names.join(', ')}`);
    process.exitCode = 2;
  } else {
    const module: { main?: unknown } = await import(`./${name}.ts`);
    if (typeof module.main !== 'function') {
      console.error(`examples/${name}.ts exports no main function`);
      process.exitCode = 1;
    } else {
      await runExample(module.main as ExampleMain);
    }
  }
}
