/**
 * Gives `err` the caller's stack, as pg's promise form does: called in a promise step that leads to the caller's
 * `await` (V8 follows that chain), it shows where the caller sent the statement instead of pg's socket reader.
 */
export function recapture(err: unknown): never {
  if (typeof err === 'object' && err !== null) Error.captureStackTrace(err);
  throw err;
}
