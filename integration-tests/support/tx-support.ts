/**
 * Helpers shared by the transaction-scope integration tests: quiet and capturing loggers, a pool on a test
 * database, backend pids, polling, and a small TCP proxy that can delay the server's answers or cut the
 * connection on the client's next write.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, pino } from 'pino';
import { createPool, type Pool, type PoolConfig } from '../../src/index.js';
import type { TestDatabase } from '../setup/db.js';

/** A logger that writes nothing: the tests assert outcomes, not log noise. */
export function quietLogger(): Logger {
  return pino({ level: 'silent' });
}

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { level: number; event?: string; msg?: string };

/** A debug-level logger whose lines are kept, parsed, in `lines`. */
export function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write(chunk: string) {
        lines.push(JSON.parse(chunk) as LogLine);
      },
    },
  );
  return { logger, lines };
}

/** A pool on `db` with a quiet logger unless `config` says otherwise. Close it when done. */
export function poolFor(db: TestDatabase, config: PoolConfig = {}): Pool {
  return createPool({ connectionString: db.url, logger: quietLogger(), ...config });
}

/** Anything that runs a query: a transaction, a connection, a pg.Client. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** The server process id behind `q`'s connection. */
export async function backendPid(q: Queryable): Promise<number> {
  const result = await q.query('select pg_backend_pid() as pid');
  return (result.rows[0] as { pid: number }).pid;
}

/** The ids in `table` (column `id`), sorted, read as the superuser on a connection of its own. */
export async function idsIn(db: TestDatabase, table: string): Promise<number[]> {
  const result = await db.admin(`select id from ${table} order by id`);
  return result.rows.map((row: { id: number }) => row.id);
}

/** Ends the backend `pid` from an admin connection; resolves true if the server found it. */
export async function terminateBackend(db: TestDatabase, pid: number): Promise<boolean> {
  const result = await db.admin('select pg_terminate_backend($1) as ok', [pid]);
  return (result.rows[0] as { ok: boolean }).ok;
}

/** Whether backend `pid` still shows in `pg_stat_activity`. */
export async function backendAlive(db: TestDatabase, pid: number): Promise<boolean> {
  const result = await db.admin('select 1 from pg_stat_activity where pid = $1', [pid]);
  return (result.rowCount ?? 0) > 0;
}

/** Polls `probe` every `everyMillis` until it returns a value other than undefined, or rejects at the deadline. */
export async function pollFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMillis = 5_000, everyMillis = 10 }: { timeoutMillis?: number; everyMillis?: number } = {},
): Promise<T> {
  const deadline = performance.now() + timeoutMillis;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() >= deadline)
      throw new Error(`timed out after ${timeoutMillis} ms waiting for ${what}`);
    await sleep(everyMillis);
  }
}

/** Waits until backend `pid` has left `pg_stat_activity`. */
export async function waitUntilGone(db: TestDatabase, pid: number): Promise<void> {
  await pollFor(`backend ${pid} to exit`, async () => ((await backendAlive(db, pid)) ? undefined : true));
}

/**
 * Records every `uncaughtException` and `unhandledRejection` while installed. `stop()` removes the listeners
 * and returns what was seen.
 */
export function watchProcessErrors(): { seen: unknown[]; stop: () => unknown[] } {
  const seen: unknown[] = [];
  const onError = (err: unknown) => {
    seen.push(err);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    seen,
    stop: () => {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
      return seen;
    },
  };
}

/** A TCP proxy on 127.0.0.1 between a pool and the server. */
export interface TcpProxy {
  /** The port to connect to. */
  readonly port: number;
  /** Chunks written by clients towards the server so far. */
  readonly clientWrites: number;
  /**
   * Round trips so far, counted structurally: client→server bursts that came after the server's last answer was
   * delivered to that client (or that opened its connection). Writes a client makes before any answer reaches
   * it (a pipelined flight) belong to one round trip, however the kernel chunks them. With `delayMillis` > 0
   * this does not depend on the machine's speed: no answer can reach the client sooner.
   */
  readonly roundTrips: number;
  /**
   * Protocol messages clients sent so far, by type byte (`'P'` Parse, `'B'` Bind, `'C'` Close, `'Q'` Query,
   * …), parsed from the byte stream after each connection's startup packet, whatever the chunking.
   */
  clientMessages(type: string): number;
  /** Server→client delay applied to every chunk, in ms (0 = none). May be changed at any time. */
  delayMillis: number;
  /**
   * > 0: the server's answers are split into protocol messages, and the message after an ErrorResponse is
   * held back this long — as a real network may deliver them, since PostgreSQL flushes an error at once.
   * May be changed at any time.
   */
  pauseAfterErrorMillis: number;
  /**
   * The next chunk any client writes is dropped and both sides of its connection are destroyed: the client
   * has sent its message and the connection dies before an answer can come.
   */
  cutOnNextClientWrite(): void;
  close(): Promise<void>;
}

/** Starts a {@link TcpProxy} in front of `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let clientWrites = 0;
  let roundTrips = 0;
  let cutArmed = false;
  const messageCounts = new Map<string, number>();

  const server: Server = createServer((client) => {
    const upstream = tcpConnect(target.port, target.host);
    // No Nagle: a small write held back for an ACK would add a delayed-ACK stall that looks like a round trip.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    client.on('close', destroyBoth);
    upstream.on('close', destroyBoth);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));

    // Client→server messages: the startup packet has no type byte (length first), every later one does.
    let fromClient: Buffer = Buffer.alloc(0);
    let startupSeen = false;
    const countMessages = (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        if (!startupSeen) {
          if (fromClient.length < 4) return;
          const size = fromClient.readInt32BE(0);
          if (fromClient.length < size) return;
          fromClient = fromClient.subarray(size);
          startupSeen = true;
          continue;
        }
        if (fromClient.length < 5) return;
        const size = 1 + fromClient.readInt32BE(1);
        if (fromClient.length < size) return;
        const type = String.fromCharCode(fromClient[0] as number);
        messageCounts.set(type, (messageCounts.get(type) ?? 0) + 1);
        fromClient = fromClient.subarray(size);
      }
    };
    // Whether the client has written since an answer was last delivered to it.
    let clientSpoke = false;
    const toClient = (chunk: Buffer) => {
      clientSpoke = false;
      client.write(chunk);
    };
    client.on('data', (chunk: Buffer) => {
      clientWrites++;
      if (!clientSpoke) roundTrips++;
      clientSpoke = true;
      countMessages(chunk);
      if (cutArmed) {
        cutArmed = false;
        destroyBoth();
        return;
      }
      upstream.write(chunk);
    });

    // Server→client: each chunk (or message) is held until it is due, in arrival order.
    const queue: { chunk: Buffer; due: number }[] = [];
    let pending: Buffer = Buffer.alloc(0);
    let notBefore = 0;
    let draining = false;
    const drain = async () => {
      draining = true;
      for (let next = queue.shift(); next; next = queue.shift()) {
        const wait = next.due - performance.now();
        if (wait > 0) await sleep(wait);
        if (!client.destroyed) toClient(next.chunk);
      }
      draining = false;
    };
    upstream.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (proxy.pauseAfterErrorMillis > 0) {
        pending = Buffer.concat([pending, chunk]);
        // Every backend message: a type byte and a 4-byte length that counts itself.
        while (pending.length >= 5) {
          const size = 1 + pending.readInt32BE(1);
          if (pending.length < size) break;
          const message = pending.subarray(0, size);
          pending = pending.subarray(size);
          const due = Math.max(now + proxy.delayMillis, notBefore);
          queue.push({ chunk: message, due });
          if (message[0] === 0x45 /* 'E' ErrorResponse */) notBefore = due + proxy.pauseAfterErrorMillis;
        }
      } else if (proxy.delayMillis <= 0 && queue.length === 0 && !draining) {
        toClient(chunk);
        return;
      } else {
        queue.push({ chunk, due: now + proxy.delayMillis });
      }
      if (!draining) void drain();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('proxy has no port');

  const proxy: TcpProxy = {
    port: address.port,
    get clientWrites() {
      return clientWrites;
    },
    get roundTrips() {
      return roundTrips;
    },
    clientMessages: (type: string) => messageCounts.get(type) ?? 0,
    delayMillis: 0,
    pauseAfterErrorMillis: 0,
    cutOnNextClientWrite() {
      cutArmed = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
