import { describe, expect, it } from 'vitest';
import { parseLsn, WalHistory } from './replica-lag.js';

describe('parseLsn', () => {
  it('reads pg_lsn text as 64 bits', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(() => parseLsn('nope')).toThrow(/not a WAL position/);
  });
});

describe('WalHistory', () => {
  const at = (sentAt: number, lsn: bigint) => ({ sentAt, insertLsn: lsn, flushLsn: lsn });

  it('stays at 0 on an idle primary however long it idles', () => {
    const h = new WalHistory();
    h.add(at(0, 100n));
    h.add(at(1_000, 100n));
    h.add(at(60_000, 100n));
    expect(h.lagMillis(100n, 60_000)).toBe(0);
  });

  it('measures the age of the oldest WAL not replayed', () => {
    const h = new WalHistory();
    expect(h.lagMillis(0n, 0)).toBe(undefined);
    h.add(at(0, 100n));
    h.add(at(1_000, 200n));
    h.add(at(2_000, 300n));
    expect(h.lagMillis(100n, 2_500)).toBe(1_500);
    expect(h.lagMillis(50n, 2_500)).toBe(2_500);
    expect(h.lagMillis(300n, 2_500)).toBe(0);
  });

  it('knows a commit replayed only from a sample sent after it', () => {
    const h = new WalHistory();
    h.add(at(0, 100n));
    expect(h.hasReplayed(1_000n, 10)).toBe(false);
    h.add(at(20, 150n));
    expect(h.hasReplayed(149n, 10)).toBe(false);
    expect(h.hasReplayed(150n, 10)).toBe(true);
    // The same position read again later still counts as a reading after the commit.
    h.add(at(40, 150n));
    expect(h.hasReplayed(150n, 30)).toBe(true);
  });

  it('keeps a bounded number of samples', () => {
    const h = new WalHistory(2);
    h.add(at(0, 1n));
    h.add(at(1, 2n));
    h.add(at(2, 3n));
    expect(h.lagMillis(0n, 10)).toBe(9);
  });
});
