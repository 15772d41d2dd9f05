import { connect } from 'node:net';
import type { Client } from 'pg';

/** The fields of a connected pg.Client a cancel request needs (public properties of pg's Client). */
interface CancelTarget {
  host?: string;
  port?: number;
  processID?: number | null;
  secretKey?: number | null;
}

/**
 * Sends PostgreSQL's CancelRequest for the query the client's backend is running, on a separate short-lived
 * socket, as libpq's PQcancel does. Resolves when the server closed that socket or after `timeoutMillis`;
 * never rejects: a cancel is best effort, and callers destroy the connection when in doubt.
 */
export function sendCancelRequest(client: Client, timeoutMillis = 2_000): Promise<void> {
  const target = client as unknown as CancelTarget;
  const { processID, secretKey } = target;
  if (typeof processID !== 'number' || typeof secretKey !== 'number') return Promise.resolve();
  const host = target.host ?? 'localhost';
  const port = target.port ?? 5432;
  return new Promise((resolve) => {
    const socket = host.startsWith('/') ? connect(`${host}/.s.PGSQL.${port}`) : connect(port, host);
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMillis);
    timer.unref();
    socket.once('error', done);
    socket.once('close', done);
    socket.once('connect', () => {
      const packet = Buffer.alloc(16);
      packet.writeInt32BE(16, 0);
      packet.writeInt32BE(80877102, 4); // CancelRequest code: 1234 << 16 | 5678
      packet.writeInt32BE(processID, 8);
      packet.writeInt32BE(secretKey | 0, 12);
      socket.end(packet);
    });
  });
}
