import { ScopeClosedError, TransactionTimeoutError } from '../errors.js';
import type { Lease } from '../pool/lease.js';
import { timerDelay } from '../util/timers.js';

/** Why a watched transaction is cut short. */
export type AbortReason = 'timeout' | 'abort';

/**
 * A top-level transaction's deadline (`timeoutMillis`) and abort signal, and the pool taking its connection
 * away (close). {@link aborted} rejects when any of them happens, for the callback runner to race; the
 * deadline and the signal also call `onFire`, which cancels and rolls back.
 */
export class DeadlineWatch {
  /** Rejects with the error that cut the transaction short; never resolves. */
  readonly aborted: Promise<never>;
  /** When the deadline falls (a `performance.now()` time), or undefined without one. */
  readonly deadline: number | undefined;
  #reject: ((err: unknown) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  readonly #onRevoke: () => void;
  #lease: Lease;

  /**
   * `remainingMillis`: time left until the deadline (undefined: none); `timeoutMillis`: the option, for the
   * error's message (undefined: the remaining time is shown).
   */
  constructor(
    lease: Lease,
    remainingMillis: number | undefined,
    timeoutMillis: number | undefined,
    signal: AbortSignal | undefined,
    onFire: (err: unknown, reason: AbortReason) => void,
  ) {
    this.aborted = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    this.aborted.catch(() => {
      // Observed by the callback runner when it races; the `await using` form sees the error on its next call.
    });
    this.deadline = remainingMillis === undefined ? undefined : performance.now() + remainingMillis;
    if (remainingMillis !== undefined) {
      this.#timer = setTimeout(
        () => onFire(new TransactionTimeoutError(timeoutMillis ?? remainingMillis), 'timeout'),
        timerDelay(remainingMillis),
      );
    }
    // The pool took the connection away (close): the deadline has nothing left to cut short, so its timer
    // must not keep the process alive; a callback still running rejects now instead of at the deadline.
    this.#onRevoke = () => {
      this.stop();
      this.reject(new ScopeClosedError('cannot continue: the pool closed and took the connection'));
    };
    this.#lease = lease;
    lease.onRevoke = this.#onRevoke;
    this.#signal = signal;
    if (signal) {
      this.#onAbort = () => onFire(signal.reason, 'abort');
      if (signal.aborted) this.#onAbort();
      else signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Rejects {@link aborted} with `err` (the first call wins). */
  reject(err: unknown): void {
    const reject = this.#reject;
    this.#reject = undefined;
    reject?.(err);
  }

  /** The transaction moved to another connection (its first flight was re-sent): watch that one instead. */
  moveTo(lease: Lease): void {
    if (this.#lease.onRevoke === this.#onRevoke) this.#lease.onRevoke = undefined;
    this.#lease = lease;
    lease.onRevoke = this.#onRevoke;
  }

  /** Stops watching: the transaction ended. Idempotent. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = undefined;
    if (this.#lease.onRevoke === this.#onRevoke) this.#lease.onRevoke = undefined;
  }
}
