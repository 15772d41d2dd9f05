import { type ChildProcess, spawn } from 'node:child_process';
import { access, chmod, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where Debian's package installs PgBouncer. */
export const PGBOUNCER_BINARY = '/usr/sbin/pgbouncer';

/** How long PgBouncer gets to listen, and to exit when stopped. */
const START_TIMEOUT_MILLIS = 10_000;
const STOP_TIMEOUT_MILLIS = 5_000;

/** A PgBouncer in front of the test server. */
export interface PgBouncer {
  readonly host: string;
  readonly port: number;
  /** Stops PgBouncer (SIGTERM, then SIGKILL after a bound) and deletes its files. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startPgBouncer}. */
export interface PgBouncerOptions {
  /** Server connections per database/user pair. Small, so that clients really share them. Default 3. */
  poolSize?: number;
}

/** Why PgBouncer cannot be used here, or undefined when it can. */
export async function pgbouncerMissing(): Promise<string | undefined> {
  try {
    await access(PGBOUNCER_BINARY, constants.X_OK);
    return undefined;
  } catch {
    return `${PGBOUNCER_BINARY} is not installed (apt-get install -y pgbouncer)`;
  }
}

/**
 * Starts PgBouncer on a free 127.0.0.1 port in transaction pool mode, in front of the server of `adminUrl`
 * (any database name is passed through). Clients are trusted; PgBouncer logs in to the server as the client's
 * user with the admin URL's password. PgBouncer refuses to run as root, so when we are root it drops to
 * `nobody` (`-u`), and its files are made readable for that. Rejects (having cleaned up) if it does not listen
 * within 10 s, with its output in the message.
 */
export async function startPgBouncer(adminUrl: string, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const server = new URL(adminUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const dir = await mkdtemp(join(tmpdir(), 'pg-scope-pgbouncer-'));
  const port = await freePort();
  const quote = (value: string) => `"${value.replaceAll('"', '""')}"`;
  await writeFile(join(dir, 'userlist.txt'), `${quote(user)} ${quote(password)}\n`);
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname.replace(/^\[(.*)\]$/, '$1')} port=${server.port || '5432'}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 3}`,
      'max_client_conn = 500',
      // pg sends these as startup parameters; PgBouncer passes only the ones it tracks.
      'ignore_startup_parameters = extra_float_digits,options,statement_timeout',
      // Quick to give up on a server that went away, so a stopped test server does not hang a test.
      'server_connect_timeout = 5',
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    // `nobody` reads the config and the user list (a throwaway server's password) from here.
    await chmod(dir, 0o755);
    await chmod(join(dir, 'userlist.txt'), 0o644);
    await chmod(join(dir, 'pgbouncer.ini'), 0o644);
  }

  const output: string[] = [];
  const child: ChildProcess = spawn(
    PGBOUNCER_BINARY,
    [...(asRoot ? ['-u', 'nobody'] : []), join(dir, 'pgbouncer.ini')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const keep = (chunk: Buffer) => {
    if (output.length < 200) output.push(String(chunk));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      output.push(String(err));
      exited = true;
      resolve();
    });
  });
  // Never keep the test process alive for PgBouncer's sake.
  child.unref();
  (child.stdout as { unref?: () => void } | null)?.unref?.();
  (child.stderr as { unref?: () => void } | null)?.unref?.();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const killed = await Promise.race([
          exit.then(() => true),
          sleep(STOP_TIMEOUT_MILLIS, false, { ref: false }),
        ]);
        if (!killed) {
          child.kill('SIGKILL');
          await Promise.race([exit, sleep(STOP_TIMEOUT_MILLIS, undefined, { ref: false })]);
        }
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const deadline = performance.now() + START_TIMEOUT_MILLIS;
  while (!(await accepts(port))) {
    if (exited || performance.now() >= deadline) {
      await stop();
      throw new Error(`pgbouncer did not start listening on 127.0.0.1:${port}:\n${output.join('')}`);
    }
    await sleep(50);
  }
  return { host: '127.0.0.1', port, stop };
}

/** True when something accepts a TCP connection on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('probe server has no port'));
      });
    });
  });
}
