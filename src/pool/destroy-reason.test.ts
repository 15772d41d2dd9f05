import { describe, expect, it } from 'vitest';
import type { ClientInfo } from './client-info.js';
import { idleUnusable, unusableReason } from './destroy-reason.js';

function info(over: Partial<ClientInfo>): ClientInfo {
  return {
    id: 1,
    createdAt: 0,
    expiresAt: 1_000,
    brokenBy: undefined,
    inflight: 0,
    beginUnanswered: false,
    beginCarried: false,
    beginHold: undefined,
    uses: 0,
    statements: undefined,
    ...over,
  };
}

describe('destroy reasons', () => {
  it('idleUnusable: broken (or unknown) first, then expired at its lifetime, else usable', () => {
    expect(idleUnusable(undefined, 0)).toBe('broken');
    expect(idleUnusable(info({ brokenBy: new Error('gone'), expiresAt: 0 }), 5)).toBe('broken');
    expect(idleUnusable(info({}), 999)).toBeUndefined();
    expect(idleUnusable(info({}), 1_000)).toBe('expired');
    expect(idleUnusable(info({ expiresAt: Number.POSITIVE_INFINITY }), Number.MAX_VALUE)).toBeUndefined();
  });

  it('unusableReason: closing wins, then broken, then the caller’s own reason', () => {
    expect(unusableReason(info({ brokenBy: 'x' }), true, 'idle')).toBe('pool closed');
    expect(unusableReason(undefined, false, 'idle')).toBe('broken');
    expect(unusableReason(info({}), false, 'expired')).toBe('expired');
  });
});
