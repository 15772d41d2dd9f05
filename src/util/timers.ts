/**
 * The longest delay `setTimeout` honours: Node fires a timer with a longer delay (about 24.8 days and up) after
 * 1 ms instead, so every delay pg-scope sets goes through {@link timerDelay}.
 */
export const MAX_TIMER_MILLIS = 2 ** 31 - 1;

/** `millis` as a delay `setTimeout` honours: not below 0, capped at {@link MAX_TIMER_MILLIS}. */
export function timerDelay(millis: number): number {
  return Math.min(Math.max(0, millis), MAX_TIMER_MILLIS);
}

/**
 * Settles as `work` does, or rejects with `timeoutError()` after `millis` (capped by {@link timerDelay}),
 * whichever comes first; the timer is cleared either way. `work` keeps running after a timeout.
 */
export function raceTimeout<T>(work: Promise<T>, millis: number, timeoutError: () => unknown): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError()), timerDelay(millis));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits until `done()` holds or `performance.now()` reaches `until`, checking every `stepMillis` (never past
 * `until`). Resolves in both cases: the caller reads `done()` again to tell which.
 */
export async function pollUntil(done: () => boolean, until: number, stepMillis: number): Promise<void> {
  while (!done()) {
    const left = until - performance.now();
    if (left <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(stepMillis, Math.max(1, left))));
  }
}
