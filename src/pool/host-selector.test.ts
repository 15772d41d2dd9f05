import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type HostConnector, HostSelector, NoMatchingHostError } from './host-selector.js';
import { parseHostPlan, type TargetSessionAttrs } from './hosts.js';

type Server = 'primary' | 'standby' | 'down';

/** Fake servers by port: a connection attempt succeeds with that server's startup report, or is refused. */
function harness(servers: Server[], target: TargetSessionAttrs | undefined) {
  const plan = parseHostPlan(
    { host: servers.map(() => 'h'), port: servers.map((_, i) => 1000 + i) },
    target,
    undefined,
  );
  if (!plan) throw new Error('no plan');
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const attempts: number[] = [];
  const closed: number[] = [];
  const broken: string[] = [];
  const portOf = new Map<unknown, number>();
  let selector: HostSelector;
  const connector: HostConnector = {
    open: async (config) => {
      const port = Number(config.port);
      attempts.push(port);
      if (servers[port - 1000] === 'down')
        throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
      const connection = new EventEmitter();
      const client = { connection } as unknown as pg.Client;
      portOf.set(client, port);
      selector.watch(client);
      const standby = servers[port - 1000] === 'standby' ? 'on' : 'off';
      connection.emit('parameterStatus', { parameterName: 'in_hot_standby', parameterValue: standby });
      connection.emit('parameterStatus', {
        parameterName: 'default_transaction_read_only',
        parameterValue: 'off',
      });
      return client;
    },
    close: async (client) => void closed.push(portOf.get(client) as number),
    markBroken: (client, why) => void broken.push(`${portOf.get(client)}: ${why.message}`),
  };
  selector = new HostSelector(plan, log, connector);
  const connect = async () => portOf.get(await selector.connect({}));
  return { selector, connect, attempts, closed, broken, lines, servers, portOf };
}

describe('HostSelector', () => {
  it('read-write (the default with several hosts) skips a standby and closes it', async () => {
    const h = harness(['standby', 'primary'], undefined);
    expect(await h.connect()).toBe(1001);
    expect(h.closed).toEqual([1000]);
  });

  it('prefer-standby keeps the first other server when no host is a standby, without reconnecting', async () => {
    const h = harness(['primary', 'down'], 'prefer-standby');
    expect(await h.connect()).toBe(1000);
    expect(h.attempts).toEqual([1000, 1001]);
    expect(h.closed).toEqual([]);
    const s = harness(['primary', 'standby'], 'prefer-standby');
    expect(await s.connect()).toBe(1001);
    expect(s.closed).toEqual([1000]);
  });

  it('rejects with a transient NoMatchingHostError when hosts answer but none matches, else with the last error', async () => {
    const h = harness(['primary', 'down'], 'standby');
    const err = await h.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoMatchingHostError);
    expect((err as NoMatchingHostError).code).toBe('08001');
    expect((err as Error).message).toBe(
      "no host matched targetSessionAttrs 'standby' (tried h:1000 (read-write), h:1001 (ECONNREFUSED))",
    );
    const down = harness(['down', 'down'], 'any');
    expect(await down.connect().catch((e: { code?: string }) => e.code)).toBe('ECONNREFUSED');
  });

  it('tries a host that was just down after the others', async () => {
    const h = harness(['down', 'primary'], 'read-write');
    expect(await h.connect()).toBe(1001);
    h.servers[0] = 'primary';
    h.attempts.length = 0;
    expect(await h.connect()).toBe(1001);
    expect(h.attempts).toEqual([1001]);
  });

  it('logs host.switched when the primary is found elsewhere, and drops the old host’s connections', async () => {
    const h = harness(['primary', 'standby'], 'read-write');
    expect(await h.connect()).toBe(1000);
    // Failover: the old primary comes back as a standby, the standby was promoted.
    h.servers[0] = 'standby';
    h.servers[1] = 'primary';
    expect(await h.connect()).toBe(1001);
    expect(h.lines.filter((l) => l.event === 'host.switched')).toMatchObject([
      { from: 'h:1000', to: 'h:1001' },
    ]);
    expect(h.broken).toEqual(['1000: the server is no longer what the connection was chosen for']);
  });

  it('marks an open session broken when the server reports a role the pool does not want', async () => {
    const h = harness(['standby'], 'standby');
    const port = await h.connect();
    const client = [...h.portOf.keys()].find((c) => h.portOf.get(c) === port) as { connection: EventEmitter };
    client.connection.emit('parameterStatus', { parameterName: 'in_hot_standby', parameterValue: 'off' });
    expect(h.broken).toEqual(['1000: the server is no longer what the connection was chosen for']);
  });

  it('25006 on a read-write pool: that connection is not reused', async () => {
    const h = harness(['primary'], 'read-write');
    await h.connect();
    const client = [...h.portOf.keys()][0] as pg.Client;
    expect(h.selector.noteQueryError(client, Object.assign(new Error('read-only'), { code: '25006' }))).toBe(
      true,
    );
    expect(h.selector.noteQueryError(client, Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
  });
});
