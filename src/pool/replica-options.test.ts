import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { checkAcquireOptions } from './acquire-options.js';
import type { PoolConfig } from './pool-config.js';
import { normalizePoolConfig } from './pool-options.js';

function fieldOf(config: unknown): string | undefined {
  try {
    normalizePoolConfig(config as PoolConfig);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).field;
  }
}

describe('replicas, maxReplicaLagMillis, targetSessionAttrs, loadBalanceHosts', () => {
  it('builds each replica its own settings: its max (default the pool’s), the pool’s timeouts', () => {
    const settings = normalizePoolConfig({
      connectionString: 'postgres://u:secret@primary/app',
      user: 'app',
      max: 7,
      min: 4,
      acquireTimeoutMillis: 1_234,
      replicas: [{ host: 'r1', max: 2 }, { connectionString: 'postgres://u:pw@r2:6432/app' }],
      maxReplicaLagMillis: 5_000,
    });
    const [r1, r2] = settings.replicas ?? [];
    expect(r1?.max).toBe(2);
    expect(r1?.min).toBe(2);
    expect(r1?.acquireTimeoutMillis).toBe(1_234);
    expect(r1?.clientConfig.host).toBe('r1');
    expect(r1?.clientConfig.user).toBe('app');
    // The primary's connection string is not inherited: it would override the replica's host.
    expect(r1?.clientConfig.connectionString).toBe(undefined);
    expect(r2?.max).toBe(7);
    expect(r2?.clientConfig.connectionString).toBe('postgres://u:pw@r2:6432/app');
    expect(settings.maxReplicaLagMillis).toBe(5_000);
    expect(JSON.stringify(settings.replicas)).not.toContain('pw@');
  });

  it('refuses bad replica configuration naming the field', () => {
    expect(fieldOf({ replicas: 'postgres://r1/app' })).toBe('replicas');
    expect(fieldOf({ replicas: ['postgres://r1/app'] })).toBe('replicas[0]');
    expect(fieldOf({ replicas: [{}] })).toBe('replicas[0]');
    expect(fieldOf({ replicas: [{ host: 'r', max: 0 }] })).toBe('replicas[0].max');
    expect(fieldOf({ replicas: [{ host: 'r', maxx: 1 }] })).toBe('replicas[0].maxx');
    expect(fieldOf({ replicas: [{ host: 'r', acquireTimeoutMillis: 1 }] })).toBe(
      'replicas[0].acquireTimeoutMillis',
    );
    expect(fieldOf({ maxReplicaLagMillis: 100 })).toBe('maxReplicaLagMillis');
    expect(fieldOf({ replicas: [{ host: 'r' }], maxReplicaLagMillis: -1 })).toBe('maxReplicaLagMillis');
    expect(fieldOf({ replicas: [{ host: 'r' }], maxReplicaLagMillis: 0 })).toBe('maxReplicaLagMillis');
    expect(fieldOf({ replicas: [], maxReplicaLagMillis: Infinity })).toBe(undefined);
  });

  it('checks targetSessionAttrs and loadBalanceHosts against libpq’s values', () => {
    for (const value of ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby']) {
      const plan = normalizePoolConfig({ host: ['a', 'b'], targetSessionAttrs: value as 'any' }).hostPlan;
      expect(plan?.targetSessionAttrs).toBe(value);
    }
    expect(fieldOf({ host: ['a', 'b'], targetSessionAttrs: 'master' })).toBe('targetSessionAttrs');
    expect(fieldOf({ host: ['a', 'b'], loadBalanceHosts: true })).toBe('loadBalanceHosts');
    expect(fieldOf({ targetSessionAtrs: 'any' })).toBe('targetSessionAtrs');
    expect(normalizePoolConfig({ host: 'a' }).hostPlan).toBe(undefined);
    expect(normalizePoolConfig({ host: ['a', 'b'] }).hostPlan?.targetSessionAttrs).toBe('read-write');
  });

  it('accepts readOnly on acquire, as a boolean only', () => {
    expect(() => checkAcquireOptions({ readOnly: true })).not.toThrow();
    expect(() => checkAcquireOptions({ readOnly: 'yes' as never })).toThrow(ConfigError);
  });

  it('redacts the password of a multi-host URL', () => {
    const settings = normalizePoolConfig({ connectionString: 'postgres://u:s3cr%40t@a:1,b:2/app' });
    expect(settings.clientConfig.secrets()).toContain('s3cr@t');
  });
});
