#!/usr/bin/env bash
# Checks the package as a user gets it: builds and packs it, lints the tarball (publint, and
# @arethetypeswrong/cli for the types each export condition resolves to), checks that every source map
# in it resolves to a shipped file and every relative Markdown link to a shipped file, then installs the
# tarball alone into a new project with "strict": true and type-checks and runs a small program against it
# (ESM import and CommonJS require); then adds @opentelemetry/api and does the same for pg-scope/otel.
#
#   npm run check:package
set -euo pipefail

cd "$(dirname "$0")/.."
root="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# `npm pack` builds first (prepack).
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
tarball="$work/$tarball"
echo "packed $(basename "$tarball"): $(tar -tzf "$tarball" | wc -l) files"

echo "==> publint"
node_modules/.bin/publint run "$tarball" --strict

echo "==> arethetypeswrong"
# ESM only, with a `default` condition that Node 22+ can require(): the CJS-resolves-to-ESM rule does not apply.
node_modules/.bin/attw "$tarball" --profile esm-only

echo "==> source maps resolve to shipped files"
mkdir "$work/unpacked"
tar -xzf "$tarball" -C "$work/unpacked"
node_modules/.bin/node --input-type=module -e '
  import { existsSync, readdirSync, readFileSync } from "node:fs";
  import { dirname, join, resolve } from "node:path";
  const root = process.argv[1];
  const missing = [];
  let maps = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".map")) {
        maps++;
        const map = JSON.parse(readFileSync(path, "utf8"));
        for (const source of map.sources) {
          const target = resolve(dirname(path), map.sourceRoot ?? "", source);
          if (!existsSync(target)) missing.push(`${path.slice(root.length + 1)} -> ${source}`);
        }
      }
    }
  };
  walk(join(root, "package"));
  if (missing.length > 0) {
    console.error(`source maps pointing to files not in the package:\n${missing.join("\n")}`);
    process.exit(1);
  }
  console.log(`${maps} source maps, every source shipped`);
' "$work/unpacked"

echo "==> relative links in shipped Markdown resolve to shipped files"
node_modules/.bin/node --input-type=module -e '
  import { existsSync, readdirSync, readFileSync } from "node:fs";
  import { dirname, join, resolve } from "node:path";
  const root = join(process.argv[1], "package");
  const dead = [];
  let links = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".md")) {
        for (const [, target] of readFileSync(path, "utf8").matchAll(/\]\(([^)\s]+)\)/g)) {
          if (/^[a-z]+:/i.test(target) || target.startsWith("#")) continue;
          links++;
          const file = resolve(dirname(path), target.split("#")[0]);
          if (!existsSync(file)) dead.push(`${path.slice(root.length + 1)} -> ${target}`);
        }
      }
    }
  };
  walk(root);
  if (dead.length > 0) {
    console.error(`links to files not in the package:\n${dead.join("\n")}`);
    process.exit(1);
  }
  console.log(`${links} relative links, every target shipped`);
' "$work/unpacked"

echo "==> a strict project with only pg-scope installed"
app="$work/app"
mkdir "$app"
cat >"$app/package.json" <<'JSON'
{ "name": "pg-scope-user", "private": true, "type": "module" }
JSON
cat >"$app/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "strict": true,
    "target": "es2022",
    "lib": ["es2022", "esnext.disposable"],
    "module": "nodenext",
    "moduleResolution": "nodenext",
    "noEmit": true,
    "skipLibCheck": false
  },
  "files": ["app.ts"]
}
JSON
cat >"$app/app.ts" <<'TS'
import { ConfigError, createPool, PoolExhaustedError, type Transaction } from 'pg-scope';

const pool = createPool({ connectionString: 'postgres://127.0.0.1:1/none', max: 2, acquireTimeoutMillis: 0 });
async function transfer(tx: Transaction, from: number, to: number): Promise<number> {
  const result = await tx.query<{ n: number }>('select $1::int + $2::int as n', [from, to]);
  return result.rows[0]?.n ?? 0;
}
export async function main(): Promise<void> {
  try {
    await pool.transaction((tx) => transfer(tx, 1, 2));
  } catch (err) {
    if (err instanceof PoolExhaustedError) console.log(err.reason);
  } finally {
    await pool.close();
  }
  console.log(new ConfigError('max', 'got -1').code);
}
TS
(cd "$app" && npm install --no-audit --no-fund --loglevel=error --prefer-offline "$tarball" >/dev/null)
node "$root/node_modules/typescript/bin/tsc" -p "$app/tsconfig.json"
echo "type-checks with \"strict\": true"
(cd "$app" && "$root/node_modules/.bin/node" --input-type=module -e '
  const esm = await import("pg-scope");
  const { createRequire } = await import("node:module");
  const cjs = createRequire(process.cwd() + "/").call(null, "pg-scope");
  if (typeof esm.createPool !== "function" || cjs.createPool !== esm.createPool) process.exit(1);
  console.log("import and require() load the same module");
')

echo "==> pg-scope/otel beside @opentelemetry/api (the optional peer dependency)"
api_version="$(node_modules/.bin/node -p "require('./node_modules/@opentelemetry/api/package.json').version")"
(cd "$app" && npm install --no-audit --no-fund --loglevel=error --prefer-offline "@opentelemetry/api@$api_version" >/dev/null)
cat >"$app/otel.ts" <<'TS'
import { metrics } from '@opentelemetry/api';
import { createPool } from 'pg-scope';
import { type InstrumentPoolOptions, instrumentPool } from 'pg-scope/otel';

const options: InstrumentPoolOptions = { meterProvider: metrics.getMeterProvider(), querySpans: false };
const pool = createPool({ connectionString: 'postgres://127.0.0.1:1/none', name: 'orders' });
const undo: () => void = instrumentPool(pool, options);
undo();
void pool.close();
TS
sed -i 's/"files": \["app.ts"\]/"files": ["app.ts", "otel.ts"]/' "$app/tsconfig.json"
node "$root/node_modules/typescript/bin/tsc" -p "$app/tsconfig.json"
echo "pg-scope/otel type-checks with \"strict\": true"
(cd "$app" && "$root/node_modules/.bin/node" --input-type=module -e '
  const esm = await import("pg-scope/otel");
  const { createRequire } = await import("node:module");
  const cjs = createRequire(process.cwd() + "/").call(null, "pg-scope/otel");
  if (typeof esm.instrumentPool !== "function" || cjs.instrumentPool !== esm.instrumentPool) process.exit(1);
  const { createPool } = await import("pg-scope");
  const pool = createPool({ connectionString: "postgres://127.0.0.1:1/none" });
  esm.instrumentPool(pool)();
  await pool.close();
  console.log("pg-scope/otel: import and require() load the same module; instrumentPool runs on the global no-op API");
')
