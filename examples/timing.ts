/**
 * Timing — like the classic Python `async with` timer, which measures its block on exit. pg-scope measures its
 * scopes for you: at debug level, `pool.acquire` logs `waitMillis`, `pool.release` logs `heldMillis` and
 * `tx.commit` logs `durationMillis`. This example reads those fields from a pino destination of its own, the
 * way a service would feed them to its metrics, and times one block itself with a `using` timer.
 * Run it: `npm run example timing`.
 */
import { pino } from 'pino';
import { createPool, LogEvent } from '../src/index.js'; // in your project: from 'pg-scope'

/** The seed's Timer, in TypeScript: `using t = startTimer(...)` reports when the block ends, however it ends. */
function startTimer(label: string, report: (label: string, millis: number) => void): Disposable {
  const started = performance.now();
  return { [Symbol.dispose]: () => report(label, performance.now() - started) };
}

export async function main(connectionString: string) {
  const acquireWaitMillis: number[] = [];
  const heldMillis: number[] = [];
  const commitDurationMillis: number[] = [];
  // A pino logger whose destination picks the timing fields out of pg-scope's log lines (JSON, one per
  // line). In a service this would be a pino transport or a multistream next to the usual output.
  const logger = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const record = JSON.parse(line) as Record<string, number | string | undefined>;
        if (record.event === LogEvent.acquire) acquireWaitMillis.push(Number(record.waitMillis));
        if (record.event === LogEvent.release) heldMillis.push(Number(record.heldMillis));
        if (record.event === LogEvent.txCommit) commitDurationMillis.push(Number(record.durationMillis));
      },
    },
  );

  await using pool = createPool({ connectionString, max: 1, logger });
  await pool.query('select 1'); // open the one connection, so the waits below are not connection setup

  // One caller holds the only connection for ~120 ms; a second one waits for it.
  const holder = pool.acquire((conn) => conn.query('select pg_sleep(0.12)'));
  const waiter = pool.acquire((conn) => conn.query('select 1'));
  await Promise.all([holder, waiter]);

  // A transaction that takes ~80 ms, timed by the pool (tx.commit) and by the caller (the timer).
  const timings: Record<string, number> = {};
  {
    using _timer = startTimer('transaction', (label, millis) => {
      timings[label] = Math.round(millis);
    });
    await pool.transaction(async (tx) => {
      await tx.query('select pg_sleep(0.08)');
    });
  }

  console.log(`pool.acquire waitMillis:    ${acquireWaitMillis.join(', ')}`);
  console.log(`pool.release heldMillis:    ${heldMillis.join(', ')}`);
  console.log(`tx.commit durationMillis:   ${commitDurationMillis.join(', ')}`);
  console.log(`the caller's own timer:     transaction ${timings.transaction} ms`);
  return {
    longestWaitMillis: Math.max(...acquireWaitMillis),
    commitDurationMillis,
    callerMeasuredMillis: timings.transaction ?? Number.NaN,
  };
}

if (import.meta.main) {
  const { runExample } = await import('./run.js');
  await runExample(main);
}
