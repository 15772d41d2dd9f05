import { describe, expect, it } from 'vitest';
import { HOST_RECHECK_MILLIS, HostHealth, hostSequence } from './host-health.js';
import { roleFromParameters, roleMatches } from './session-role.js';

const primary = { standby: false, readOnly: false };
const standby = { standby: true, readOnly: true };
const readOnlyPrimary = { standby: false, readOnly: true };

describe('roleMatches', () => {
  it('decides as libpq does for all six targets', () => {
    const table = {
      any: [true, true, true],
      'read-write': [true, false, false],
      'read-only': [false, true, true],
      primary: [true, false, true],
      standby: [false, true, false],
      'prefer-standby': [false, true, false],
    } as const;
    for (const [target, expected] of Object.entries(table)) {
      const got = [primary, standby, readOnlyPrimary].map((r) =>
        roleMatches(target as keyof typeof table, r),
      );
      expect([target, got]).toEqual([target, expected]);
    }
  });

  it('reads the startup report, or nothing before PostgreSQL 14', () => {
    expect(
      roleFromParameters(
        new Map([
          ['in_hot_standby', 'on'],
          ['default_transaction_read_only', 'off'],
        ]),
      ),
    ).toEqual(standby);
    expect(
      roleFromParameters(
        new Map([
          ['in_hot_standby', 'off'],
          ['default_transaction_read_only', 'on'],
        ]),
      ),
    ).toEqual(readOnlyPrimary);
    expect(roleFromParameters(new Map([['server_version', '13.1']]))).toBe(undefined);
  });
});

describe('HostHealth', () => {
  it('tries known matches and unknown hosts first, down hosts last, and forgets after the recheck interval', () => {
    const health = new HostHealth(3);
    health.noteDown(0, 0);
    health.noteRole(1, standby, 0);
    health.noteRole(2, primary, 0);
    expect(health.order([0, 1, 2], 'read-write', 1)).toEqual([2, 1, 0]);
    expect(health.order([0, 1, 2], 'standby', 1)).toEqual([1, 2, 0]);
    // Known matches and unknown hosts keep the base order between them (a shuffle stays a shuffle).
    const spread = new HostHealth(3);
    spread.noteRole(2, primary, 0);
    expect(spread.order([2, 0, 1], 'any', 1)).toEqual([2, 0, 1]);
    expect(spread.order([1, 2, 0], 'any', 1)).toEqual([1, 2, 0]);
    expect(health.order([0, 1, 2], 'read-write', HOST_RECHECK_MILLIS + 1)).toEqual([0, 1, 2]);
  });

  it('reports the previous fresh role', () => {
    const health = new HostHealth(1);
    expect(health.noteRole(0, primary, 0)).toBe(undefined);
    expect(health.noteRole(0, standby, 5)).toEqual(primary);
  });

  it('shuffles for random, keeping every host once', () => {
    expect(hostSequence(3, false)).toEqual([0, 1, 2]);
    expect(hostSequence(3, true, () => 0)).toEqual([1, 2, 0]);
    expect([...hostSequence(5, true)].sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
