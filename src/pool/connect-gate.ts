/**
 * Paces connection attempts while the server is failing, so a down server sees a few attempts per second
 * from a pool, not a busy loop. Healthy: attempts run at once and in parallel. After a failure: the next
 * attempt waits an exponential backoff with jitter (100 ms doubling up to 2 s).
 */
export class ConnectGate {
  static readonly BASE_DELAY_MILLIS = 100;
  static readonly MAX_DELAY_MILLIS = 2_000;

  #failures = 0;
  #nextAttemptAt = 0;
  #lastFailure: unknown;
  #lastFailureAt = Number.NEGATIVE_INFINITY;
  #permanent = false;

  /** Consecutive failed attempts since the last success. */
  get failures(): number {
    return this.#failures;
  }
  /** The last failed attempt's error. */
  get lastFailure(): unknown {
    return this.#lastFailure;
  }
  /** `performance.now()` of the last failure. */
  get lastFailureAt(): number {
    return this.#lastFailureAt;
  }
  /** True while the last attempt failed with an error no retry can fix. */
  get permanent(): boolean {
    return this.#permanent;
  }
  /** Milliseconds until the next attempt may start (0 when healthy). */
  delayMillis(now = performance.now()): number {
    return Math.max(0, this.#nextAttemptAt - now);
  }

  /**
   * The wait before the next attempt for a caller whose wait ends at `deadline`: the backoff, brought forward
   * when it would end past that caller's last chance (`deadline` less `leadMillis`). One attempt then starts
   * at that last chance (never sooner than the first backoff step after the last failure), so a server back
   * by then serves the caller. Once that attempt has failed, the backoff runs its course.
   */
  delayBefore(deadline: number | undefined, leadMillis: number, now = performance.now()): number {
    const delay = this.delayMillis(now);
    if (delay === 0 || deadline === undefined || deadline === Number.POSITIVE_INFINITY) return delay;
    const lastChance = deadline - leadMillis;
    if (this.#lastFailureAt >= lastChance) return delay;
    if (now + delay <= lastChance) return delay;
    const at = Math.max(lastChance, this.#lastFailureAt + ConnectGate.BASE_DELAY_MILLIS);
    return at < deadline ? Math.max(0, Math.min(delay, at - now)) : delay;
  }

  /** Records a successful connection: the server is healthy again. */
  succeeded(): void {
    this.#failures = 0;
    this.#nextAttemptAt = 0;
    this.#permanent = false;
  }

  /** Records a failed attempt and schedules the earliest next one. */
  failed(err: unknown, permanent: boolean, now = performance.now()): void {
    this.#failures++;
    this.#lastFailure = err;
    this.#lastFailureAt = now;
    this.#permanent = permanent;
    const exp = Math.min(
      ConnectGate.MAX_DELAY_MILLIS,
      ConnectGate.BASE_DELAY_MILLIS * 2 ** (this.#failures - 1),
    );
    this.#nextAttemptAt = now + exp * (0.8 + Math.random() * 0.4);
  }
}
