import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { hostLabel, parseHostPlan } from './hosts.js';

describe('parseHostPlan', () => {
  it('is undefined for one host and nothing to choose', () => {
    expect(parseHostPlan({ connectionString: 'postgres://u:p@db1:5432/app' }, undefined, undefined)).toBe(
      undefined,
    );
    expect(parseHostPlan({ host: 'db1', port: 5432 }, undefined, undefined)).toBe(undefined);
  });

  it('reads several hosts from a URL, defaulting to read-write in order', () => {
    const plan = parseHostPlan(
      { connectionString: 'postgres://u:p@db1:5432,db2,[::1]:6000/app?x=1' },
      undefined,
      undefined,
    );
    expect(plan?.hosts).toEqual([
      { host: 'db1', port: 5432 },
      { host: 'db2', port: undefined },
      { host: '::1', port: 6000 },
    ]);
    expect(plan?.targetSessionAttrs).toBe('read-write');
    expect(plan?.loadBalanceHosts).toBe('disable');
    expect(plan?.configFor({ connectionString: 'ignored', user: 'x' }, 2)).toEqual({
      connectionString: 'postgres://u:p@[::1]:6000/app?x=1',
      user: 'x',
    });
  });

  it('takes target_session_attrs and load_balance_hosts from the URL and drops them from each host’s URL', () => {
    const url =
      'postgres://u@a:1,b:2/app?target_session_attrs=standby&load_balance_hosts=random&sslmode=disable';
    const plan = parseHostPlan({ connectionString: url }, undefined, undefined);
    expect(plan?.targetSessionAttrs).toBe('standby');
    expect(plan?.loadBalanceHosts).toBe('random');
    expect(plan?.configFor({ connectionString: url }, 1).connectionString).toBe(
      'postgres://u@b:2/app?sslmode=disable',
    );
  });

  it('lets the options win over the URL’s parameters', () => {
    const url = 'postgres://u@a,b/app?target_session_attrs=standby';
    expect(parseHostPlan({ connectionString: url }, 'primary', 'random')?.targetSessionAttrs).toBe('primary');
  });

  it('reads host and port arrays, and comma-separated strings', () => {
    const plan = parseHostPlan({ host: ['a', 'b'], port: [1, 2] }, undefined, undefined);
    expect(plan?.configFor({ host: 'x', port: 9 }, 1)).toEqual({ host: 'b', port: 2 });
    const shared = parseHostPlan({ host: 'a,b', port: 7 }, undefined, undefined);
    expect(shared?.hosts).toEqual([
      { host: 'a', port: 7 },
      { host: 'b', port: 7 },
    ]);
  });

  it('applies a target to a single host, default any', () => {
    expect(parseHostPlan({ host: 'a' }, 'standby', undefined)?.hosts).toEqual([
      { host: 'a', port: undefined },
    ]);
    expect(parseHostPlan({ host: 'a' }, undefined, 'random')?.targetSessionAttrs).toBe('any');
  });

  it('leaves one URL host as written, dropping only the parameters it consumes', () => {
    const url = 'postgres://u@db1:notaport/app?target_session_attrs=standby&x=1';
    const plan = parseHostPlan({ connectionString: url }, undefined, undefined);
    expect(plan?.targetSessionAttrs).toBe('standby');
    expect(plan?.configFor({ connectionString: url }, 0).connectionString).toBe(
      'postgres://u@db1:notaport/app?x=1',
    );
  });

  it('refuses bad values naming the field', () => {
    const bad = (fn: () => unknown, field: string) => {
      try {
        fn();
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).field).toBe(field);
      }
    };
    bad(() => parseHostPlan({ host: ['a', 'b'] }, 'read-writ', undefined), 'targetSessionAttrs');
    bad(() => parseHostPlan({ host: ['a', 'b'] }, undefined, 'yes'), 'loadBalanceHosts');
    bad(() => parseHostPlan({ host: ['a', 'b'], port: [1, 2, 3] }, undefined, undefined), 'port');
    bad(() => parseHostPlan({ host: ['a', 'b'], port: [0, 2] }, undefined, undefined), 'port');
    bad(() => parseHostPlan({ host: [] }, undefined, undefined), 'host');
    bad(
      () => parseHostPlan({ connectionString: 'postgres://a:99999,b/x' }, undefined, undefined),
      'connectionString',
    );
    bad(
      () =>
        parseHostPlan(
          { connectionString: 'postgres://a,b/x?target_session_attrs=nope' },
          undefined,
          undefined,
        ),
      'connectionString target_session_attrs',
    );
  });

  it('labels hosts without credentials', () => {
    expect(hostLabel({ host: 'db', port: 5 })).toBe('db:5');
    expect(hostLabel({ host: '::1', port: undefined })).toBe('[::1]');
  });
});
