import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { setPipelined } from './pg-client-internals.js';

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

  it('pg.Client accepts the documented pipeline option (the field pg-scope switches)', () => {
    expect(new pg.Client({ pipeline: true }).pipeline).toBe(true);
  });
});
