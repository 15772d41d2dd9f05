/** Where the pool stands when a caller has to wait (no idle connection was free for it). */
export interface AdmissionState {
  /** The caller's acquire timeout (0: fail fast). */
  readonly timeoutMillis: number;
  /** True when the caller came before the current waiters (its idle connection turned out broken). */
  readonly first: boolean;
  readonly max: number;
  readonly maxWaiting: number;
  /** Connections lent out. */
  readonly borrowed: number;
  /** Callers already waiting. */
  readonly waiting: number;
  /** Connections open or being opened. */
  readonly size: number;
  /** The last connection attempt failed with an error no retry can fix, and the backoff is still running. */
  readonly refusedForGood: boolean;
}

/**
 * Whether a caller may join the queue, or why it fails at once: `'no-wait'` (timeout 0 and every connection
 * borrowed or promised), `'queue-full'`, or `'connect-error'` (the server refuses for good and only a new
 * connection could serve it). A pure function of the numbers.
 */
export function admission(s: AdmissionState): 'no-wait' | 'queue-full' | 'connect-error' | undefined {
  // Fail fast only when every connection the pool may have is borrowed or already promised to an earlier
  // caller: a connection still being opened (by min-keeping, or for this queue) is one to wait for.
  if (s.timeoutMillis === 0 && s.borrowed + (s.first ? 0 : s.waiting) >= s.max) return 'no-wait';
  // Callers waiting only for a connection the pool still has room to open do not count against maxWaiting
  // (so `maxWaiting: 0` means "never wait for a borrowed connection"); the queue stays bounded by
  // maxWaiting + max even while the server is down.
  if (s.waiting >= s.maxWaiting + Math.max(0, s.max - s.borrowed)) return 'queue-full';
  if (s.refusedForGood && s.size < s.max) return 'connect-error';
  return undefined;
}
