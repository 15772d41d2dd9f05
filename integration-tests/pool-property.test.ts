import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connection, createPool, PoolExhaustedError } from '../src/index.js';
import { countConnections, createTestDatabase, type TestDatabase } from './setup/db.js';
import { appName, captureLog } from './support/pool-test-kit.js';

/**
 * The pool against a small model, under random sizes and schedules: callers acquire (the first ones right
 * after createPool, while `min` connections are still being opened), hold for a while and release, and
 * backends are terminated under them. The model of exhaustion: an acquire may be refused as exhausted only
 * when every connection the pool may open is borrowed or promised to an earlier caller — at once for
 * `'no-wait'`, at some moment of its wait for `'timeout'`, and only after its deadline then. A `'timeout'` is
 * also allowed while a connection is still being opened for the caller when its deadline comes: a server that
 * takes longer than the deadline to accept a session (SCRAM through a container's port proxy can take over
 * 100 ms on a loaded machine) cannot be out-waited. No other failure is allowed (the server stays up), and the
 * server never sees more than `max` sessions.
 */
type Step =
  | { kind: 'acquire'; holdMillis: number; timeoutMillis: number | undefined }
  | { kind: 'pause'; millis: number }
  | { kind: 'kill' };

interface Schedule {
  min: number;
  max: number;
  acquireTimeoutMillis: number;
  steps: Step[];
}

const schedule: fc.Arbitrary<Schedule> = fc
  .record({
    max: fc.integer({ min: 1, max: 4 }),
    minShare: fc.constantFrom(0, 0.5, 1),
    acquireTimeoutMillis: fc.constantFrom(0, 250, 1_000),
    steps: fc.array(
      fc.oneof(
        {
          weight: 6,
          arbitrary: fc.record({
            kind: fc.constant('acquire' as const),
            holdMillis: fc.constantFrom(0, 5, 40, 150, 400),
            timeoutMillis: fc.option(fc.constantFrom(0, 100, 600), { nil: undefined }),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({ kind: fc.constant('pause' as const), millis: fc.constantFrom(0, 10, 60) }),
        },
        { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
      ),
      { minLength: 1, maxLength: 14 },
    ),
  })
  .map(({ max, minShare, acquireTimeoutMillis, steps }) => ({
    max,
    min: Math.round(max * minShare),
    acquireTimeoutMillis,
    steps,
  }));

/** Connections being opened: counted in `size`, neither idle nor borrowed. */
function opening(pool: { stats(): { size: number; idle: number; borrowed: number } }): number {
  const { size, idle, borrowed } = pool.stats();
  return size - idle - borrowed;
}

/** One caller that has asked and not yet been answered, as the model sees it. */
interface Pending {
  readonly order: number;
  /** Whether, at some moment of its wait, every connection was borrowed or promised to an earlier caller. */
  sawFull: boolean;
}

describe('pool property: random sizes and schedules against a model of exhaustion', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db?.drop();
  });

  async function run(s: Schedule): Promise<void> {
    const app = appName('pprop');
    const pool = createPool({
      ...db.config,
      application_name: app,
      min: s.min,
      max: s.max,
      acquireTimeoutMillis: s.acquireTimeoutMillis,
      connectTimeoutMillis: 5_000,
      nestedAcquire: 'allow',
      logger: captureLog('silent').logger,
    });
    let held = 0;
    let order = 0;
    const pending = new Set<Pending>();
    const violations: string[] = [];
    let peakSessions = 0;

    // Re-evaluates "full" for every waiting caller: the held connections plus those promised to callers that
    // asked before it.
    const observe = () => {
      for (const p of pending) {
        let earlier = 0;
        for (const q of pending) if (q.order < p.order) earlier++;
        if (held + earlier >= s.max) p.sawFull = true;
      }
    };

    const acquireOne = async (step: Extract<Step, { kind: 'acquire' }>) => {
      const me: Pending = { order: order++, sawFull: false };
      pending.add(me);
      observe();
      const deadline = step.timeoutMillis ?? s.acquireTimeoutMillis;
      const started = performance.now();
      let conn: Connection | undefined;
      try {
        conn = await pool.acquire(
          step.timeoutMillis === undefined ? {} : { timeoutMillis: step.timeoutMillis },
        );
      } catch (error) {
        pending.delete(me);
        observe();
        const waited = performance.now() - started;
        if (!(error instanceof PoolExhaustedError)) {
          violations.push(`acquire #${me.order} failed with ${String(error)}`);
        } else if (error.reason === 'no-wait' && !me.sawFull) {
          violations.push(`acquire #${me.order} refused 'no-wait' while a connection was free`);
        } else if (error.reason === 'timeout' && waited < deadline - 5) {
          violations.push(
            `acquire #${me.order} timed out after ${Math.round(waited)} ms, before its deadline ${deadline}`,
          );
        } else if (error.reason === 'timeout' && !me.sawFull && opening(pool) === 0) {
          violations.push(
            `acquire #${me.order} timed out after ${Math.round(waited)} ms (deadline ${deadline}) with a connection ` +
              'free and none being opened',
          );
        } else if (error.reason === 'queue-full') {
          violations.push(`acquire #${me.order} refused 'queue-full' with maxWaiting at its default`);
        }
        return;
      }
      pending.delete(me);
      held++;
      observe();
      try {
        await sleep(step.holdMillis);
      } finally {
        held--;
        await conn[Symbol.asyncDispose]();
        observe();
      }
    };

    const sampler = setInterval(() => {
      countConnections(db.name, app).then(
        (n) => {
          peakSessions = Math.max(peakSessions, n);
        },
        () => {
          // A sample lost to a busy server changes nothing of the outcome.
        },
      );
    }, 20);
    const callers: Promise<void>[] = [];
    try {
      for (const step of s.steps) {
        if (step.kind === 'acquire') callers.push(acquireOne(step));
        else if (step.kind === 'pause') await sleep(step.millis);
        else
          await db.admin(
            `select pg_terminate_backend(pid) from pg_stat_activity
              where application_name = $1 and pid = (select min(pid) from pg_stat_activity where application_name = $1)`,
            [app],
          );
      }
      await Promise.all(callers);
    } finally {
      clearInterval(sampler);
      await pool.close({ timeoutMillis: 2_000 });
    }
    expect(violations).toEqual([]);
    expect(peakSessions).toBeLessThanOrEqual(s.max);
    expect(pool.stats()).toMatchObject({ borrowed: 0, waiting: 0 });
  }

  it('never refuses a caller while a connection is free, never exceeds max', {
    timeout: 120_000,
  }, async () => {
    await fc.assert(fc.asyncProperty(schedule, run), { numRuns: 30, endOnFailure: true });
  });

  it('a caller whose idle connection was broken keeps its place ahead of later callers', async () => {
    // Found by the property above: the first caller took the terminated idle connection, and a second caller
    // queued while it did; the first was then refused 'no-wait' as if the second had come first.
    await run({
      max: 1,
      min: 1,
      acquireTimeoutMillis: 0,
      steps: [
        { kind: 'kill' },
        { kind: 'acquire', holdMillis: 400, timeoutMillis: 0 },
        { kind: 'acquire', holdMillis: 5, timeoutMillis: 0 },
      ],
    });
  });

  it('fixed-size pools right after createPool (the schedules that found the min = max bug)', async () => {
    for (const max of [1, 2, 5]) {
      await run({
        min: max,
        max,
        acquireTimeoutMillis: 0,
        steps: Array.from({ length: max }, () => ({
          kind: 'acquire',
          holdMillis: 20,
          timeoutMillis: undefined,
        })),
      });
      await run({
        min: max,
        max,
        acquireTimeoutMillis: 1_000,
        steps: Array.from({ length: 2 * max }, () => ({
          kind: 'acquire',
          holdMillis: 5,
          timeoutMillis: undefined,
        })),
      });
    }
  });
});
