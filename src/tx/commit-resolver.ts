import { setTimeout as sleep } from 'node:timers/promises';
import type { Lease } from '../pool/lease.js';
import { serverVersion } from '../pool/pg-client-internals.js';
import type { PoolCore } from '../pool/pool-core.js';
import { raceTimeout } from '../util/timers.js';
import { classifyXactStatus, pollDelayMillis, type XactStatus, xactStatusSql } from './commit-resolution.js';

/** What the server said at last: committed, aborted, or nothing conclusive by the bound. */
export type ResolvedOutcome = 'committed' | 'aborted' | 'unknown';

const ASK_TIMED_OUT = new Error('the question about a lost COMMIT got no answer in time');

/**
 * Asks the server what became of transaction `xid`, on connections of `core` (the lost one is already gone,
 * so any other one of the pool, or a fresh one, serves; behind PgBouncer any server connection knows), until
 * `until` (a `performance.now()` time) or `signal` aborts. A transaction still in progress is asked about
 * again after a growing pause; a connection that fails under the question is destroyed and another one tried.
 * Never rejects: anything inconclusive at the bound is `'unknown'`.
 */
export async function askCommitOutcome(
  core: PoolCore,
  xid: string,
  until: number,
  signal: AbortSignal | undefined,
): Promise<ResolvedOutcome> {
  for (let attempt = 1; ; attempt++) {
    const status = await askOnce(core, xid, until, signal);
    if (status === 'committed' || status === 'aborted') return status;
    if (status === 'unknown' || signal?.aborted) return 'unknown';
    // In progress, or no answer this time (no connection, a connection lost under the question): again.
    const pause = Math.min(pollDelayMillis(attempt), until - performance.now());
    if (pause <= 0) return 'unknown';
    try {
      await sleep(pause, undefined, signal ? { signal } : undefined);
    } catch {
      // Aborted while pausing: the caller stopped waiting for the answer.
      return 'unknown';
    }
  }
}

/** One question on one connection; `'inProgress'` also stands for "no answer this time, ask again". */
async function askOnce(
  core: PoolCore,
  xid: string,
  until: number,
  signal: AbortSignal | undefined,
): Promise<XactStatus> {
  const left = until - performance.now();
  if (left <= 0) return 'unknown';
  let lease: Lease;
  try {
    // Never a nested-acquire warning: the transaction that asks has already given its connection back.
    lease = await core.lease({ timeoutMillis: Math.max(1, left), ...(signal ? { signal } : {}) }, false);
  } catch {
    // No connection until the bound (server unreachable, pool closed or exhausted): nothing learned.
    return 'inProgress';
  }
  const sql = xactStatusSql(serverVersion(lease.rawClient));
  try {
    const result = await raceTimeout(
      lease.query<{ status: unknown }>(sql, [xid]),
      Math.max(1, until - performance.now()),
      () => ASK_TIMED_OUT,
    );
    void lease.end();
    const status = classifyXactStatus(result.rows[0]?.status);
    return status;
  } catch (err) {
    // A question still unanswered leaves its connection in doubt; one the server refused (an id from the
    // future, an unknown function) is an answer of a kind: nothing conclusive will come.
    void lease.end(err === ASK_TIMED_OUT ? 'query still running' : undefined);
    return lease.info.brokenBy !== undefined || err === ASK_TIMED_OUT ? 'inProgress' : 'unknown';
  }
}
