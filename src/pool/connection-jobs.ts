import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import { thrownField, withoutStack } from '../logging/thrown-value.js';
import { isTransientConnectError } from './connect-errors.js';
import type { ConnectGate } from './connect-gate.js';
import type { ConnectionFactory } from './connection-factory.js';

/**
 * While the server is failing, the last connection attempt for the oldest waiter starts at least this long
 * before its deadline, however long the backoff: an outage that ends before then is ridden out.
 */
const LAST_ATTEMPT_LEAD_MILLIS = 300;

/** What the connection jobs need of the pool. */
export interface JobHost {
  /** True once the pool is closing. */
  readonly closing: boolean;
  /** Callers waiting for a connection. */
  readonly waiting: number;
  /** The oldest waiter's deadline (`performance.now()` based), if anyone waits. */
  headDeadline(): number | undefined;
  /** A connection was opened for the queue: the pool puts it in its store and serves the queue with it. */
  opened(client: pg.Client): void;
  /** The last attempt failed with an error no retry can fix: every waiter rejects now. */
  failedForGood(): void;
  /** A job ended: the pool serves the queue again (and may start another job). */
  jobEnded(): void;
}

/**
 * The connection attempts the pool makes for its waiting callers: each job opens one connection, retrying
 * transient failures with the connect gate's paced backoff while callers wait and no other job carries on.
 */
export class ConnectionJobs {
  readonly #host: JobHost;
  readonly #factory: ConnectionFactory;
  readonly #gate: ConnectGate;
  readonly #log: Logger;
  readonly #stop: AbortSignal;
  readonly #jobs = new Set<Promise<void>>();

  constructor(host: JobHost, factory: ConnectionFactory, gate: ConnectGate, log: Logger, stop: AbortSignal) {
    this.#host = host;
    this.#factory = factory;
    this.#gate = gate;
    this.#log = log;
    this.#stop = stop;
  }

  /** Jobs running (each counts as a connection being opened). */
  get running(): number {
    return this.#jobs.size;
  }

  /** Starts one job. */
  start(): void {
    const job: Promise<void> = this.#run().finally(() => {
      this.#jobs.delete(job);
      this.#host.jobEnded();
    });
    this.#jobs.add(job);
  }

  /** Resolves once every job has ended (pool closing). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#jobs]);
  }

  /** Records a failed attempt (a job's, or the store's for `min`) with the gate, and logs it. */
  failed(err: unknown): void {
    const permanent = !isTransientConnectError(err);
    const gate = this.#gate;
    gate.failed(err, permanent);
    // An attempt that close() aborted is no failure worth a warning.
    const level = this.#host.closing ? 'debug' : 'warn';
    if (!this.#log.isLevelEnabled(level)) return;
    this.#log[level](
      {
        event: LogEvent.connectError,
        attempt: gate.failures,
        code: thrownField(err, 'code'),
        permanent,
        // The stack only on the first failure of a run: the next ones repeat it.
        err: gate.failures === 1 ? err : withoutStack(err),
      },
      'connection attempt failed',
    );
  }

  async #run(): Promise<void> {
    const host = this.#host;
    for (;;) {
      const delay = this.#gate.delayBefore(host.headDeadline(), LAST_ATTEMPT_LEAD_MILLIS);
      if (delay > 0) {
        await sleep(delay, undefined, { signal: this.#stop }).catch(() => {
          // Aborted: the pool is closing, checked right below.
        });
      }
      if (host.closing) return;
      let client: pg.Client;
      try {
        client = await this.#factory.connect();
      } catch (err) {
        this.failed(err);
        if (this.#gate.permanent) {
          host.failedForGood();
          return;
        }
        // Keep trying only while callers wait and no other job carries on.
        if (host.waiting === 0 || this.#jobs.size > 1 || host.closing) return;
        continue;
      }
      this.#gate.succeeded();
      if (host.closing) {
        await this.#factory.destroy(client, 'pool closed');
        return;
      }
      host.opened(client);
      return;
    }
  }
}
