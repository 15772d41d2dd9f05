import type { Logger } from 'pino';
import { ConnectError, PoolExhaustedError, type PoolExhaustedReason } from '../errors.js';
import { LogEvent } from '../logging/events.js';
import type { Redactor } from '../logging/redact.js';
import { thrownMessage } from '../logging/thrown-value.js';
import { WarnThrottle } from '../logging/warn-throttle.js';
import type { PoolStats } from '../stats.js';
import type { ConnectGate } from './connect-gate.js';
import type { Lease } from './lease.js';

/** What the errors need to know about the pool at the time they are made. */
export interface FailureContext {
  /** The pool's counters now. */
  stats(): PoolStats;
  /** The lease lent longest ago, if any. */
  oldestLease(): Lease | undefined;
}

/**
 * Builds the errors an acquire rejects with when no connection comes: `PoolExhaustedError` (counted, and
 * logged at warn through a throttle: a burst is one line at once, then at most one a second with the count)
 * and `ConnectError` (the last connection failure, its message redacted).
 */
export class AcquireFailures {
  readonly #context: FailureContext;
  readonly #gate: ConnectGate;
  readonly #redactor: Redactor;
  readonly #log: WarnThrottle;
  #exhausted = 0;

  constructor(context: FailureContext, gate: ConnectGate, redactor: Redactor, log: Logger) {
    this.#context = context;
    this.#gate = gate;
    this.#redactor = redactor;
    this.#log = new WarnThrottle(log);
  }

  /** PoolExhaustedErrors made so far (`PoolStats.exhausted`). */
  get exhaustedCount(): number {
    return this.#exhausted;
  }

  /** A PoolExhaustedError for an acquire started at `started`; `withCause`: the last connect failure as cause. */
  exhausted(reason: PoolExhaustedReason, started: number, withCause = false): PoolExhaustedError {
    this.#exhausted++;
    const oldest = this.#context.oldestLease();
    const err = new PoolExhaustedError(
      reason,
      this.#context.stats(),
      performance.now() - started,
      withCause ? this.#gate.lastFailure : undefined,
      oldest ? { scopeId: oldest.id, stack: oldest.acquiredStack?.stack } : undefined,
    );
    this.#log.note(() => ({
      fields: {
        event: LogEvent.exhausted,
        reason,
        stats: err.stats,
        waitMillis: Math.round(err.waitedMillis),
        longestBorrowScopeId: err.longestBorrowScopeId,
        longestBorrowStack: err.longestBorrowStack,
      },
      msg: err.message,
    }));
    return err;
  }

  /** A ConnectError for an acquire started at `started`, from the connect gate's last failure. */
  connectError(started: number): ConnectError {
    const gate = this.#gate;
    const waited = Math.round(performance.now() - started);
    const what = this.#redactor.text(thrownMessage(gate.lastFailure));
    return new ConnectError(
      gate.permanent
        ? `could not connect to the server: ${what}`
        : `could not connect to the server within ${waited} ms (${gate.failures} failed attempts; last: ${what})`,
      gate.lastFailure,
    );
  }

  /** Writes the throttled warn line still pending (pool closing). */
  flush(): void {
    this.#log.flush();
  }
}
