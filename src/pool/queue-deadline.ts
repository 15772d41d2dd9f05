import { timerDelay } from '../util/timers.js';

/**
 * The one deadline timer of a waiting queue, instead of a timer per waiter: it is armed for the earliest
 * deadline the queue holds, and when it fires the queue expires what is due and arms it for the next one.
 * A later deadline never moves it; an earlier one brings it forward.
 */
export class QueueDeadline {
  readonly #onDue: () => void;
  #timer: NodeJS.Timeout | undefined;
  /** `performance.now()` the timer fires at (Infinity: not armed). */
  #at = Number.POSITIVE_INFINITY;

  /** `onDue`: the earliest deadline may have passed (the timer fired). */
  constructor(onDue: () => void) {
    this.#onDue = onDue;
  }

  /** Makes sure the timer fires by `deadline` (`performance.now()` based; Infinity: nothing to do). */
  arm(deadline: number, now = performance.now()): void {
    if (deadline >= this.#at || deadline === Number.POSITIVE_INFINITY) return;
    clearTimeout(this.#timer);
    this.#at = deadline;
    // Node's timers count whole milliseconds: round up, so the timer never fires before the deadline.
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#at = Number.POSITIVE_INFINITY;
        this.#onDue();
      },
      timerDelay(Math.ceil(deadline - now)),
    );
  }

  /** Disarms the timer (the queue is empty). */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
  }
}
