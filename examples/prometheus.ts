/**
 * Serving a pg-scope pool's `stats()` to Prometheus with `prom-client`.
 *
 * `registerPoolMetrics(pool, registry, name)` adds these metrics to a prom-client registry, each labelled
 * `pool="<name>"` so several pools (a primary and a replica, say) share one registry:
 *
 * | metric | type | from `stats()` |
 * |---|---|---|
 * | `pg_scope_pool_max`, `pg_scope_pool_min` | gauge | the configured bounds |
 * | `pg_scope_pool_size` | gauge | open connections plus connections being opened |
 * | `pg_scope_pool_idle`, `pg_scope_pool_borrowed` | gauge | idle in the pool, lent to a scope |
 * | `pg_scope_pool_waiting` | gauge | callers waiting for a connection |
 * | `pg_scope_pool_acquired_total` | counter | successful acquires |
 * | `pg_scope_pool_created_total`, `pg_scope_pool_destroyed_total` | counter | server connections opened, closed |
 * | `pg_scope_pool_exhausted_total` | counter | `PoolExhaustedError`s thrown |
 * | `pg_scope_pool_commits_total`, `pg_scope_pool_rollbacks_total` | counter | top-level transactions |
 *
 * Nothing samples in the background: every metric reads `pool.stats()` in its `collect()`, when Prometheus
 * scrapes. `prom-client` is not a dependency of pg-scope; a service that wants these metrics installs it.
 *
 * Run it against a server, then scrape it:
 *
 *     DATABASE_URL=postgres://user:password@localhost:5432/db npx tsx examples/prometheus.ts
 *     npm run example prometheus          # DATABASE_URL, or an embedded PostgreSQL started for the run
 *     curl http://localhost:9464/metrics
 *
 * `--once` prints the metrics after a little work and exits; `PORT` changes the port.
 */
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Counter, Gauge, Registry } from 'prom-client';
// In a service: `from 'pg-scope'`.
import { createPool, type PoolStats } from '../src/index.js';

/** What the metrics need of a pool. */
export interface StatsSource {
  stats(): PoolStats;
}

type GaugeField = 'max' | 'min' | 'size' | 'idle' | 'borrowed' | 'waiting';
type TotalField = 'acquired' | 'created' | 'destroyed' | 'exhausted' | 'commits' | 'rollbacks';

const GAUGES: Record<GaugeField, string> = {
  max: 'Upper bound on open server connections (max)',
  min: 'Connections kept open when idle (min)',
  size: 'Open server connections, plus connections being opened',
  idle: 'Open connections waiting in the pool',
  borrowed: 'Connections currently lent to a scope',
  waiting: 'Callers waiting for a connection',
};

const TOTALS: Record<TotalField, string> = {
  acquired: 'Successful acquires',
  created: 'Server connections opened',
  destroyed: 'Server connections closed',
  exhausted: 'PoolExhaustedError thrown (no-wait, timeout or queue full)',
  commits: 'Top-level transactions committed',
  rollbacks: 'Top-level transactions rolled back',
};

/** The pools whose metrics a registry serves, by name; the metrics are registered once per registry. */
const poolsByRegistry = new WeakMap<Registry, Map<string, StatsSource>>();

function registerMetrics(registry: Registry, pools: Map<string, StatsSource>): void {
  for (const [field, help] of Object.entries(GAUGES) as Array<[GaugeField, string]>) {
    new Gauge({
      name: `pg_scope_pool_${field}`,
      help,
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [pool, source] of pools) this.set({ pool }, source.stats()[field]);
      },
    });
  }
  for (const [field, help] of Object.entries(TOTALS) as Array<[TotalField, string]>) {
    new Counter({
      name: `pg_scope_pool_${field}_total`,
      help,
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        // A counter cannot be set; the pool keeps the running total, so the metric restarts from it.
        this.reset();
        for (const [pool, source] of pools) this.inc({ pool }, source.stats()[field]);
      },
    });
  }
}

/**
 * Serves `pool.stats()` through `registry`, labelled `pool="<name>"`. Returns a function that stops serving
 * this pool (call it when the pool is closed). Throws if `name` is already registered in `registry`.
 */
export function registerPoolMetrics(pool: StatsSource, registry: Registry, name = 'default'): () => void {
  let pools = poolsByRegistry.get(registry);
  if (!pools) {
    pools = new Map();
    poolsByRegistry.set(registry, pools);
    registerMetrics(registry, pools);
  }
  if (pools.has(name)) throw new Error(`a pool named '${name}' is already registered in this registry`);
  pools.set(name, pool);
  return () => {
    if (pools.get(name) === pool) pools.delete(name);
  };
}

/**
 * Runs a pool against `connectionString` (default: DATABASE_URL) with a little work every second, and serves its
 * metrics on http://localhost:PORT/metrics (PORT default 9464) until SIGINT; with `--once`, prints them once
 * after a little work instead. Resolves when done, with the pool closed.
 */
export async function main(connectionString = process.env.DATABASE_URL): Promise<void> {
  if (!connectionString) throw new Error('set DATABASE_URL to a PostgreSQL connection string');
  await using pool = createPool({
    connectionString,
    application_name: 'pg-scope-prometheus-example',
    max: 4,
  });
  const registry = new Registry();
  const unregister = registerPoolMetrics(pool, registry, 'main');

  // A little work, so the numbers move: a commit and a rollback.
  const work = async () => {
    await pool.transaction((tx) => tx.query('select 1'));
    await pool.transaction(async (tx) => {
      await tx.query('select 1');
      await tx.rollback();
    });
  };

  if (process.argv.includes('--once')) {
    await work();
    process.stdout.write(await registry.metrics());
    unregister();
    return;
  }

  const port = Number(process.env.PORT ?? 9464);
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  console.log(`metrics on http://localhost:${port}/metrics (Ctrl-C stops)`);
  const timer = setInterval(() => {
    work().catch((err: unknown) => console.error('work failed:', err));
  }, 1_000);
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  clearInterval(timer);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  unregister();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
