/**
 * Replica lag measured on WAL positions, not on `now() - pg_last_xact_replay_timestamp()` (which grows
 * without bound on an idle primary, where there is nothing to replay). The pool samples the primary's WAL
 * position now and then; a replica's lag is how long ago the primary first had WAL the replica has not yet
 * replayed: 0 when it has replayed everything of the latest sample. Pure: the caller passes the times.
 */

/** `'16/B374D848'` (pg_lsn's text form) as a number of bytes (a bigint: LSNs are 64-bit). */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text);
  if (match === null) throw new Error(`not a WAL position: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** One reading of the primary's WAL: taken by a query sent at `sentAt`. */
export interface WalSample {
  /** `performance.now()` when the query was sent: every commit that had completed by then is at or before `insertLsn`. */
  readonly sentAt: number;
  /** `pg_current_wal_insert_lsn()`: the end of everything inserted, commits included. */
  readonly insertLsn: bigint;
  /** `pg_current_wal_flush_lsn()`: what a standby can have received. */
  readonly flushLsn: bigint;
}

/** The primary's recent WAL samples, oldest first, bounded in count. */
export class WalHistory {
  readonly #samples: WalSample[] = [];
  readonly #limit: number;
  /** When the latest reading was sent (it may have been folded into an older sample of the same position). */
  #latestSentAt = Number.NEGATIVE_INFINITY;

  constructor(limit = 600) {
    this.#limit = limit;
  }

  add(sample: WalSample): void {
    const last = this.#samples.at(-1);
    // An unchanged position adds nothing to the lag measure: keep the older sample (it says "since when").
    this.#latestSentAt = sample.sentAt;
    if (last && last.flushLsn === sample.flushLsn && last.insertLsn === sample.insertLsn) return;
    this.#samples.push(sample);
    if (this.#samples.length > this.#limit) this.#samples.shift();
  }

  /**
   * How far behind a replica that has replayed up to `replayLsn` is at `now`, in milliseconds: 0 when it has
   * replayed the latest sample's flushed WAL, else the age of the oldest sample it has not replayed. Undefined
   * when there is no sample yet.
   */
  lagMillis(replayLsn: bigint, now: number): number | undefined {
    const samples = this.#samples;
    if (samples.length === 0) return undefined;
    for (const sample of samples) {
      if (sample.flushLsn > replayLsn) return Math.max(0, now - sample.sentAt);
    }
    return 0;
  }

  /**
   * Whether a replica at `replayLsn` has replayed every commit that completed before `since` — known only from
   * a sample sent after `since`: false until there is one (the caller then uses the primary).
   */
  hasReplayed(replayLsn: bigint, since: number): boolean {
    if (this.#latestSentAt <= since) return false;
    // The oldest sample sent after `since` bounds the commit from above; a later one would be stricter than needed.
    for (const sample of this.#samples) {
      if (sample.sentAt > since) return replayLsn >= sample.insertLsn;
    }
    // Only the latest reading (folded into an older sample of the same position) was sent after `since`.
    const last = this.#samples.at(-1);
    return last !== undefined && replayLsn >= last.insertLsn;
  }
}
