import { ConfigError, ConnectError } from '../errors.js';
import { isConnectionLoss } from '../pool/connect-errors.js';
import type { PoolSettings } from '../pool/pool-config.js';
import type { PoolCore } from '../pool/pool-core.js';
import { checkMillis, describeValue } from '../util/option-checks.js';
import { raceTimeout } from '../util/timers.js';

/** Options of `pool.ping()`. */
export interface PingOptions {
  /**
   * Bound on the whole check: getting a connection (waiting, or opening one) and its round trip. Default: the
   * pool's `acquireTimeoutMillis`, or 10 000 when that is 0 or Infinity.
   */
  timeoutMillis?: number;
}

/** `pool.ping()`: one `SELECT 1` on a connection of `core`; its round trip in milliseconds. */
export async function ping(core: PoolCore, options: PingOptions | undefined): Promise<number> {
  const timeoutMillis = pingTimeout(options, core.settings);
  const started = performance.now();
  const lease = await core.lease({ timeoutMillis }, false);
  const sent = performance.now();
  let failed: 'broken' | undefined;
  try {
    await raceTimeout(
      lease.query('SELECT 1'),
      Math.max(1, started + timeoutMillis - sent),
      () => new ConnectError(`ping: no answer from the server within ${timeoutMillis} ms`, undefined),
    );
    return performance.now() - sent;
  } catch (err) {
    failed = 'broken';
    if (err instanceof ConnectError) throw err;
    throw new ConnectError(
      `ping failed: ${isConnectionLoss(err) ? 'connection lost' : 'the server refused SELECT 1'}`,
      err,
    );
  } finally {
    // An unanswered ping leaves its query running: the pool destroys that connection (cancelling it).
    await lease.end(lease.info.inflight > 0 ? undefined : failed);
  }
}

/** Validates `pool.ping()`'s options; the timeout to use. */
function pingTimeout(options: PingOptions | undefined, settings: PoolSettings): number {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new ConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options ?? {})) {
    if (key !== 'timeoutMillis') throw new ConfigError(key, 'unknown ping option; allowed: timeoutMillis');
  }
  if (options?.timeoutMillis !== undefined) return checkMillis('timeoutMillis', options.timeoutMillis);
  const acquire = settings.acquireTimeoutMillis;
  return acquire === 0 || acquire === Number.POSITIVE_INFINITY ? 10_000 : acquire;
}
