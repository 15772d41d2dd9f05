import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, pino } from 'pino';

/** An `application_name` of its own for one pool, so its sessions can be counted in `pg_stat_activity`. */
export function appName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string; event?: string };

/** A pino logger that keeps its lines in memory, parsed. */
export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: LogLine[];
  /** The lines whose `event` field is `event`. */
  withEvent(event: string): LogLine[];
}

/** pino's numeric levels. */
export const Level = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A pino logger at `level` writing into an array (so tests assert on log lines and the run stays quiet). */
export function captureLog(level = 'debug'): CapturedLog {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      for (const text of String(chunk).split('\n')) {
        if (text !== '') lines.push(JSON.parse(text) as LogLine);
      }
      callback();
    },
  });
  return {
    logger: pino({ level }, stream),
    lines,
    withEvent: (event) => lines.filter((line) => line.event === event),
  };
}

/** How a promise settled, and after how many milliseconds. */
export type Settled<T> =
  | { ok: true; value: T; millis: number }
  | { ok: false; error: unknown; millis: number };

/** Awaits `promise` and reports how it settled and how long that took from now. Never rejects. */
export async function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  const started = performance.now();
  try {
    const value = await promise;
    return { ok: true, value, millis: performance.now() - started };
  } catch (error) {
    return { ok: false, error, millis: performance.now() - started };
  }
}

/** The error a settled promise rejected with; throws if it resolved. */
export function rejection(settled: Settled<unknown>): unknown {
  if (settled.ok) throw new Error(`expected a rejection, got the value ${String(settled.value)}`);
  return settled.error;
}

/** Polls `read` every 20 ms until `done(value)` or `timeoutMillis` passes; resolves with the last value. */
export async function pollUntil<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMillis = 3_000,
): Promise<T> {
  const deadline = performance.now() + timeoutMillis;
  for (;;) {
    const value = await read();
    if (done(value) || performance.now() >= deadline) return value;
    await sleep(20);
  }
}

/** A TCP server that is not PostgreSQL, counting the connections it receives. */
export interface FakeServer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections still open. */
  readonly open: number;
  /** Stops listening and destroys the sockets still open. */
  close(): Promise<void>;
}

/**
 * Starts a fake server on 127.0.0.1. `'reset'`: every connection is reset (RST) at once, like a server that
 * is going down. `'silent'`: every connection is accepted and kept open, and nothing is ever answered.
 */
export async function startFakeServer(mode: 'reset' | 'silent'): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on('error', () => {
      // A client going away is what these servers expect; nothing to report.
    });
    if (mode === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('fake server has no port');
  return {
    port: address.port,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address !== 'object') throw new Error('probe server has no port');
  return address.port;
}

/** Collects `uncaughtException` and `unhandledRejection` events while installed. */
export interface ProcessErrorWatch {
  readonly errors: unknown[];
  stop(): void;
}

/** Starts collecting errors that would crash the process (or be reported as unhandled). */
export function watchProcessErrors(): ProcessErrorWatch {
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    errors,
    stop: () => {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}
