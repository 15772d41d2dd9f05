import { LogEvent } from '../logging/events.js';
import type { PoolCore } from '../pool/pool-core.js';
import { parseLsn, WalHistory } from '../pool/replica-lag.js';

/** How often the replicas (and the primary's WAL position) are checked. */
export const CHECK_INTERVAL_MILLIS = 1_000;
/** Bound on one check: getting a connection and its one query. A replica that cannot answer in it is down. */
export const CHECK_TIMEOUT_MILLIS = 2_000;

/** Why a replica gets no new work. */
export type ReplicaDownReason = 'down' | 'not in recovery' | 'lagging';

/** One replica as the health check sees it. */
export interface ReplicaState {
  /** `host:port`, for log lines and errors. */
  readonly label: string;
  readonly core: PoolCore;
  /** Undefined while usable (after a first good check); else why not. Starts as `'down'` (not checked yet). */
  downReason: ReplicaDownReason | undefined;
  /** The WAL position the replica had replayed at its last good check. */
  replayLsn: bigint;
  /** Aborted when the replica is taken out: acquires waiting on it go elsewhere. Renewed when it is back. */
  taken: AbortController;
  /** False until the first check: a replica down from the start is reported once, one that is up is not. */
  checked: boolean;
}

/**
 * Checks the replicas every CHECK_INTERVAL_MILLIS, each on a connection of its own pool (so checks count
 * within the replica's `max`): answers, in recovery (`pg_is_in_recovery()`), and replayed WAL position
 * (`pg_last_wal_replay_lsn()`); and samples the primary's WAL position on a connection of the primary's pool.
 * Lag is measured on WAL positions (see `replica-lag.ts`), so it stays 0 on an idle primary. Logs
 * `replica.down` / `replica.up` on each change.
 */
export class ReplicaHealth {
  readonly replicas: readonly ReplicaState[];
  readonly history = new WalHistory();
  readonly #primary: PoolCore;
  readonly #maxLagMillis: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #firstRound: Promise<void> | undefined;
  #stopped = false;

  constructor(
    primary: PoolCore,
    replicas: readonly { label: string; core: PoolCore }[],
    maxLagMillis: number | undefined,
  ) {
    this.#primary = primary;
    this.#maxLagMillis = maxLagMillis;
    this.replicas = replicas.map((r) => ({
      ...r,
      downReason: 'down' as ReplicaDownReason,
      replayLsn: 0n,
      taken: new AbortController(),
      checked: false,
    }));
  }

  /** Starts checking (once); resolves when the first round is done, so the first read already has a verdict. */
  start(): Promise<void> {
    if (this.#firstRound === undefined) {
      this.#firstRound = this.#round().finally(() => this.#schedule());
    }
    return this.#firstRound;
  }

  /** Stops checking. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** An acquire on the replica found it unreachable: take it out now rather than at the next check. */
  noteUnreachable(replica: ReplicaState, err: unknown): void {
    this.#set(replica, 'down', err);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.#round().finally(() => this.#schedule());
    }, CHECK_INTERVAL_MILLIS);
    // A health check is no reason to keep the process alive.
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    await Promise.all([this.#samplePrimary(), ...this.replicas.map((r) => this.#check(r))]);
  }

  async #samplePrimary(): Promise<void> {
    const sentAt = performance.now();
    try {
      const row = await query(
        this.#primary,
        'select pg_current_wal_insert_lsn()::text as insert, pg_current_wal_flush_lsn()::text as flush',
      );
      this.history.add({
        sentAt,
        insertLsn: parseLsn(row.insert as string),
        flushLsn: parseLsn(row.flush as string),
      });
    } catch {
      // Primary busy, down or itself in recovery (mid-failover): no sample this round; lag is then measured
      // against older samples, which can only understate it until the next one.
    }
  }

  async #check(replica: ReplicaState): Promise<void> {
    let row: Record<string, string>;
    try {
      row = await query(
        replica.core,
        'select pg_is_in_recovery()::text as recovery, pg_last_wal_replay_lsn()::text as replay',
      );
    } catch (err) {
      // A busy replica (every connection borrowed) is not a down one.
      if ((err as { code?: unknown }).code === 'POOL_EXHAUSTED') return;
      this.#set(replica, 'down', err);
      return;
    }
    if (row.recovery !== 'true' || row.replay === null) {
      this.#set(replica, 'not in recovery');
      return;
    }
    replica.replayLsn = parseLsn(row.replay as string);
    const lag = this.history.lagMillis(replica.replayLsn, performance.now());
    if (this.#maxLagMillis !== undefined && lag !== undefined && lag > this.#maxLagMillis) {
      this.#set(replica, 'lagging', undefined, lag);
      return;
    }
    this.#set(replica, undefined);
  }

  #set(
    replica: ReplicaState,
    reason: ReplicaDownReason | undefined,
    err?: unknown,
    lagMillis?: number,
  ): void {
    const before = replica.downReason;
    const first = !replica.checked;
    replica.checked = true;
    replica.downReason = reason;
    if (before === reason && !(first && reason !== undefined)) return;
    const index = this.replicas.indexOf(replica);
    // The replica's own logger: its redactor knows the replica's password.
    const log = replica.core.log;
    if (reason === undefined) {
      replica.taken = new AbortController();
      if (!first)
        log.info({ event: LogEvent.replicaUp, replica: index, host: replica.label }, 'replica used again');
      return;
    }
    replica.taken.abort(TAKEN_OUT);
    log.warn(
      {
        event: LogEvent.replicaDown,
        replica: index,
        host: replica.label,
        reason,
        ...(lagMillis === undefined ? {} : { lagMillis: Math.round(lagMillis) }),
        ...(err === undefined ? {} : { err }),
      },
      'replica gets no new read-only work',
    );
  }
}

/** The abort reason of an acquire waiting on a replica that was taken out: the router sends it elsewhere. */
export const TAKEN_OUT = new Error('replica taken out');

/** One query on a connection of `core`, bounded by CHECK_TIMEOUT_MILLIS; the connection goes back after. */
async function query(core: PoolCore, text: string): Promise<Record<string, string>> {
  const signal = AbortSignal.timeout(CHECK_TIMEOUT_MILLIS);
  const lease = await core.lease({ timeoutMillis: CHECK_TIMEOUT_MILLIS, signal }, false);
  try {
    // pg's per-query `query_timeout` (a documented pg option that @types/pg's QueryConfig omits): a replica
    // that accepts the connection but never answers is down, not a check that hangs.
    const config = { text, query_timeout: CHECK_TIMEOUT_MILLIS } as { text: string };
    const result = await lease.query<Record<string, string>>(config);
    return result.rows[0] as Record<string, string>;
  } finally {
    await lease.end();
  }
}
