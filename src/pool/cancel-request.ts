import { connect } from 'node:net';
import type { Client } from 'pg';

/** The fields of a connected pg.Client a cancel request needs (public properties of pg's Client). */
interface CancelTarget {
  host?: string;
  port?: number;
  processID?: number | null;
  secretKey?: number | null;
}

/** The longest pause between two cancel requests for one query. */
const MAX_CANCEL_PAUSE_MILLIS = 500;

/**
 * The pause after cancel request number `attempt` (from 1) before the next one for the same query: 50 ms,
 * doubling, at most 500 ms. Each request makes the server fork a process, so a query that will not stop gets
 * a handful of them, not a stream.
 */
export function cancelPauseMillis(attempt: number): number {
  return Math.min(MAX_CANCEL_PAUSE_MILLIS, 50 * 2 ** Math.min(Math.max(0, attempt - 1), 10));
}

/**
 * Sends PostgreSQL's CancelRequest for the query the client's backend is running, on a separate short-lived
 * socket, as libpq's PQcancel does. Resolves when the server closed that socket, after `timeoutMillis`, or when
 * `signal` aborts; never rejects: a cancel is best effort, and callers destroy the connection when in doubt.
 */
export function sendCancelRequest(
  client: Client,
  timeoutMillis = 2_000,
  signal?: AbortSignal,
): Promise<void> {
  const target = client as unknown as CancelTarget;
  const { processID, secretKey } = target;
  if (typeof processID !== 'number' || typeof secretKey !== 'number') return Promise.resolve();
  if (signal?.aborted) return Promise.resolve();
  const host = target.host ?? 'localhost';
  const port = target.port ?? 5432;
  return new Promise((resolve) => {
    const socket = host.startsWith('/') ? connect(`${host}/.s.PGSQL.${port}`) : connect(port, host);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMillis);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
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
