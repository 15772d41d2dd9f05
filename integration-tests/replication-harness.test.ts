import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReplicationSet, startReplicationSet } from './support/replication-set.js';

// The harness itself: a cold-copied standby streams, pauses and resumes replay, and can be promoted.
describe('replication harness', () => {
  let set: ReplicationSet;
  let db: string;
  beforeAll(async () => {
    set = await startReplicationSet({ standbys: 1, maxConnections: 30 });
    db = await set.createDatabase();
  });
  afterAll(async () => {
    await set?.destroy();
  });

  it('streams the primary’s writes to the standby, which is in recovery', async () => {
    const [standby] = set.standbys;
    if (!standby) throw new Error('no standby');
    await set.primary.admin('create table t (id int)', [], db);
    await set.primary.admin('insert into t values (1)', [], db);
    await set.waitForReplay(standby);
    const r = await standby.admin('select count(*)::int as n, pg_is_in_recovery() as rec from t', [], db);
    expect(r.rows[0]).toEqual({ n: 1, rec: true });
  });

  it('holds writes back while replay is paused, and applies them on resume', async () => {
    const [standby] = set.standbys;
    if (!standby) throw new Error('no standby');
    await set.pauseReplay(standby);
    await set.primary.admin('insert into t values (2)', [], db);
    const paused = await standby.admin('select count(*)::int as n from t', [], db);
    expect(paused.rows[0].n).toBe(1);
    await set.resumeReplay(standby);
    await set.waitForReplay(standby);
    const resumed = await standby.admin('select count(*)::int as n from t', [], db);
    expect(resumed.rows[0].n).toBe(2);
  });

  it('stops and starts a standby, which catches up, and promotes it once the primary is gone', async () => {
    const [standby] = set.standbys;
    if (!standby) throw new Error('no standby');
    await standby.stop();
    await set.primary.admin('insert into t values (3)', [], db);
    await standby.start();
    await set.waitForReplay(standby);
    await set.primary.stop();
    await set.promote(standby);
    await standby.admin('insert into t values (4)', [], db);
    const r = await standby.admin('select count(*)::int as n, pg_is_in_recovery() as rec from t', [], db);
    expect(r.rows[0]).toEqual({ n: 4, rec: false });
  });
});
