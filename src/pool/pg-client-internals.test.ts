import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  serverVersion,
  serverVersionNumber,
  setPipelined,
  watchServerVersion,
} from './pg-client-internals.js';

describe('pg.Client internals pg-scope relies on', () => {
  // pg reads `client.pipeline` each time it dispatches a query; pg-scope switches it per transaction. If pg
  // turns it into a getter, freezes it or renames it, this fails (and tx-round-trips.test.ts counts the
  // round trips it saves).
  it('pipeline is a plain writable own field of pg.Client, false by default, and setPipelined switches it', () => {
    const client = new pg.Client();
    const field = Object.getOwnPropertyDescriptor(client, 'pipeline');
    expect(field?.writable).toBe(true);
    expect(field?.value).toBe(false);
    setPipelined(client, true);
    expect(client.pipeline).toBe(true);
    setPipelined(client, false);
    expect(client.pipeline).toBe(false);
  });

  // queryFirstValue replaces these handlers of pg's Query (integration-tests/pg-first-value.test.ts runs it).
  it('pg.Query has the row handlers queryFirstValue replaces', () => {
    const proto = pg.Query.prototype as unknown as Record<string, unknown>;
    for (const name of [
      'handleRowDescription',
      'handleDataRow',
      'handleCommandComplete',
      'handleReadyForQuery',
      // queryWithAhead also calls these (integration-tests/statements-ahead.test.ts runs it).
      'handleError',
      'submit',
    ]) {
      expect(typeof proto[name], name).toBe('function');
    }
  });

  // queryWithAhead writes the statements ahead through these methods of pg's Connection.
  it("pg's Connection writes Parse, Bind and Execute", () => {
    const connection = (new pg.Client() as unknown as { connection: Record<string, unknown> }).connection;
    for (const name of ['parse', 'bind', 'execute', 'sync'])
      expect(typeof connection[name], name).toBe('function');
  });

  it('pg.Client accepts the documented pipeline option (the field pg-scope switches)', () => {
    expect(new pg.Client({ pipeline: true }).pipeline).toBe(true);
  });

  // pg's Connection emits every parsed server message under its name; pg-scope learns the server's version
  // from the `parameterStatus` ones sent at startup. If pg stops emitting them, this fails.
  it('the connection emits parameterStatus messages, and watchServerVersion records server_version', () => {
    const client = new pg.Client();
    watchServerVersion(client);
    const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
    expect(connection.listenerCount('parameterStatus')).toBe(1);
    connection.emit('parameterStatus', { parameterName: 'server_version', parameterValue: '15.4' });
    expect(serverVersion(client)).toBe(150_004);
  });

  it('serverVersionNumber reads what servers report', () => {
    expect(serverVersionNumber('15.4')).toBe(150_004);
    expect(serverVersionNumber('18.0 (Debian 18.0-1.pgdg120+1)')).toBe(180_000);
    expect(serverVersionNumber('10.23')).toBe(100_023);
    expect(serverVersionNumber('19beta1')).toBe(190_000);
    expect(serverVersionNumber('9.6.24')).toBe(90_624);
    expect(serverVersionNumber('')).toBeUndefined();
  });
});
