import { describe, expect, it } from 'vitest';
import { cancelPauseMillis } from './cancel-request.js';

describe('cancelPauseMillis', () => {
  it('starts at 50 ms, doubles, and stays at 500 ms', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(cancelPauseMillis)).toEqual([50, 100, 200, 400, 500, 500, 500]);
    expect(cancelPauseMillis(1_000)).toBe(500);
    expect(cancelPauseMillis(Number.MAX_SAFE_INTEGER)).toBe(500);
  });

  it('sends a handful of requests in two seconds, even when each is answered at once', () => {
    let requests = 0;
    for (let at = 0, attempt = 1; at < 2_000; attempt++) {
      requests++;
      at += cancelPauseMillis(attempt);
    }
    // A request every 50 ms would be 40.
    expect(requests).toBe(7);
  });
});
