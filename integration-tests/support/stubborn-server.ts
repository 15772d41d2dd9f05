import { createServer, type Socket } from 'node:net';

/** PostgreSQL's startup-phase request codes (the int32 after the length). */
const CANCEL_REQUEST = 80877102;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** One CancelRequest the server received: which backend it named. */
export interface CancelSeen {
  readonly processId: number;
  readonly secretKey: number;
}

/**
 * A fake PostgreSQL server on 127.0.0.1 that never lets go: it accepts every startup without a password, answers
 * a simple query with an empty result — except one whose text contains `stuck`, which it never answers — ignores
 * Terminate, and never closes a socket (half-open sockets included). Its sockets and listener are unref'd, so
 * they never keep the process alive, and `close()` destroys them all.
 */
export interface StubbornServer {
  /** Always `'127.0.0.1'`. */
  readonly host: string;
  readonly port: number;
  /** Sessions that completed the startup (not counting cancel requests). */
  readonly sessions: number;
  /** Sessions whose client has gone (its FIN, or its socket destroyed). */
  readonly sessionsEnded: number;
  /** Terminate messages received (and ignored). */
  readonly terminates: number;
  /** CancelRequests received, each on a connection of its own, in order. */
  readonly cancels: readonly CancelSeen[];
  /** Stops listening and destroys every socket. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a {@link StubbornServer}. `cancelSockets`: `'close'` closes a cancel request's connection once read, as
 * PostgreSQL does (the query still never stops); `'hold'` keeps it open for ever, as a hostile server would.
 */
export async function startStubbornServer(
  options: { cancelSockets?: 'close' | 'hold' } = {},
): Promise<StubbornServer> {
  const sockets = new Set<Socket>();
  const cancels: CancelSeen[] = [];
  let sessions = 0;
  let sessionsEnded = 0;
  let terminates = 0;
  let nextPid = 1000;
  let closing: Promise<void> | undefined;

  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.unref();
    socket.on('error', () => {
      // A client going away is what this server expects; nothing to report.
    });
    let buffer = Buffer.alloc(0);
    let started = false;
    let session = false;
    let ended = false;
    // The client's FIN, or its reset: either way it has gone (this side stays open until close()).
    const gone = () => {
      if (session && !ended && !closing) sessionsEnded++;
      ended = true;
    };
    socket.on('end', gone);
    socket.on('close', () => {
      gone();
      sockets.delete(socket);
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!started) {
          if (buffer.length < 8) return;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) return;
          const code = buffer.readInt32BE(4);
          const packet = buffer.subarray(0, length);
          buffer = buffer.subarray(length);
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write('N');
            continue;
          }
          if (code === CANCEL_REQUEST) {
            cancels.push({ processId: packet.readInt32BE(8), secretKey: packet.readInt32BE(12) });
            if (options.cancelSockets !== 'hold') socket.destroy();
            return;
          }
          started = true;
          session = true;
          sessions++;
          socket.write(startupReply(nextPid++));
          continue;
        }
        if (buffer.length < 5) return;
        const type = String.fromCharCode(buffer[0] as number);
        const length = buffer.readInt32BE(1);
        if (buffer.length < 1 + length) return;
        const body = buffer.subarray(5, 1 + length);
        buffer = buffer.subarray(1 + length);
        if (type === 'X') terminates++;
        else if (type === 'Q' && !body.toString('utf8').includes('stuck')) {
          socket.write(Buffer.concat([message('C', cstring('SELECT 0')), message('Z', Buffer.from('I'))]));
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('stubborn server has no port');
  return {
    host: '127.0.0.1',
    port: address.port,
    get sessions() {
      return sessions;
    },
    get sessionsEnded() {
      return sessionsEnded;
    },
    get terminates() {
      return terminates;
    },
    cancels,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

/** AuthenticationOk, a few ParameterStatus, BackendKeyData and ReadyForQuery: what pg's connect() waits for. */
function startupReply(processId: number): Buffer {
  const key = Buffer.alloc(8);
  key.writeInt32BE(processId, 0);
  key.writeInt32BE(processId * 7 + 1, 4);
  const auth = Buffer.alloc(4);
  return Buffer.concat([
    message('R', auth),
    message('S', Buffer.concat([cstring('server_version'), cstring('15.0')])),
    message('S', Buffer.concat([cstring('client_encoding'), cstring('UTF8')])),
    message('S', Buffer.concat([cstring('standard_conforming_strings'), cstring('on')])),
    message('K', key),
    message('Z', Buffer.from('I')),
  ]);
}

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}
