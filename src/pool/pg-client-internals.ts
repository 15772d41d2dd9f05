import type pg from 'pg';

/**
 * The things pg-scope does to a pg.Client that pg's typed API has no method for, kept in this one file:
 * `client.ref()` / `client.unref()` (pg's Client methods, which pg's own pool calls for its
 * `allowExitOnIdle`, though @types/pg omits them), `client.connection.stream` (declared by @types/pg; pg's
 * own `end()` destroys it the same way when the socket is dead), and switching `client.pipeline` (pg's
 * documented `pipeline` option, which @types/pg declares `readonly` and pg reads on every dispatch), and
 * corking that socket (pg corks it itself around an extended-protocol query), and listening to the
 * `parameterStatus` messages pg's Connection emits during startup (the server's version).
 * The Query subclasses are in pg-queries.ts. integration-tests/close-bounded.test.ts fails if pg moves the first two, pg-client-internals.test.ts and
 * integration-tests/tx-round-trips.test.ts if it changes the third.
 */
interface SocketOwner {
  ref?: () => void;
  unref?: () => void;
  connection?: {
    stream?: { destroy(): void; cork?: () => void; uncork?: () => void };
    on?: (
      event: 'parameterStatus',
      listener: (msg: { parameterName: string; parameterValue: string }) => void,
    ) => void;
  };
}

/** `server_version_num`-style numbers (150004 for 15.4) of the clients whose startup reported one. */
const serverVersions = new WeakMap<pg.Client, number>();

/**
 * Records the server's version from the `server_version` ParameterStatus that every server (and PgBouncer,
 * passing on its server's) sends during startup. Call before `connect()`; pg's Connection emits each parsed
 * message under its name, and pg keeps no record of these parameters itself.
 */
export function watchServerVersion(client: pg.Client): void {
  (client as unknown as SocketOwner).connection?.on?.('parameterStatus', (msg) => {
    if (msg.parameterName !== 'server_version') return;
    const version = serverVersionNumber(msg.parameterValue);
    if (version !== undefined) serverVersions.set(client, version);
  });
}

/** The version the client's server reported (150004 for 15.4, 180000 for 18.0), if it reported one. */
export function serverVersion(client: pg.Client): number | undefined {
  return serverVersions.get(client);
}

/** `'15.4'`, `'18.0 (Debian 18.0-1)'`, `'10.23'`, `'9.6.24'`, `'19beta1'` → 150004, 180000, 100023, 90624, 190000. */
export function serverVersionNumber(text: string): number | undefined {
  const match = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!match) return undefined;
  const major = Number(match[1]);
  const minor = Number(match[2] ?? 0);
  if (major >= 10) return major * 10_000 + minor;
  return major * 10_000 + minor * 100 + Number(match[3] ?? 0);
}

/** Whether the client's socket keeps the process alive (`true`, Node's default for a socket) or not. */
export function holdProcess(client: pg.Client, hold: boolean): void {
  const owner = client as unknown as SocketOwner;
  if (hold) owner.ref?.();
  else owner.unref?.();
}

/** Destroys the client's socket at once; pg then emits `'end'` and settles a pending `end()`. */
export function destroySocket(client: pg.Client): void {
  (client as unknown as SocketOwner).connection?.stream?.destroy();
}

/**
 * Closes a client: pg's `end()` (Terminate, then the server closes the socket), given `waitMillis` for the
 * server to do its part, after which the socket is destroyed — a server that never closes it (a hostile one,
 * or a partition: TCP retries for about 15 minutes) cannot keep the caller waiting. Never rejects.
 */
export function endClient(client: pg.Client, waitMillis: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      destroySocket(client);
      resolve();
    }, waitMillis);
    // The socket, while open, keeps the process alive; the timer only has to fire while it does.
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    client.end().then(done, done);
  });
}

/**
 * Turns pg's pipeline mode on or off for the next queries: on, pg sends each query without waiting for the
 * answer to the previous one (how BEGIN travels with a transaction's first statement); off before `end()`,
 * which waits for pipelined queries to finish.
 */
export function setPipelined(client: pg.Client, on: boolean): void {
  (client as { pipeline: boolean }).pipeline = on;
}

/**
 * Holds back the client's socket writes until the current tick ends, so that queries sent together (BEGIN,
 * the `settings` statement and the first statement of a transaction) leave in one write instead of one each.
 * pg corks the same socket around each extended-protocol query; corks nest, so the outer one decides.
 */
export function corkUntilNextTick(client: pg.Client): void {
  const stream = (client as unknown as SocketOwner).connection?.stream;
  if (!stream?.cork || !stream.uncork) return;
  stream.cork();
  process.nextTick(() => stream.uncork?.());
}

/**
 * The server's ParameterStatus reports on `client` (`in_hot_standby`, `default_transaction_read_only`, …),
 * kept up to date: pg emits each as `'parameterStatus'` on `client.connection` but keeps none of them. Call
 * before `connect()`.
 */
export function watchParameters(
  client: pg.Client,
  onChange?: (name: string) => void,
): ReadonlyMap<string, string> {
  const parameters = new Map<string, string>();
  const connection = (client as unknown as { connection?: NodeJS.EventEmitter }).connection;
  connection?.on('parameterStatus', (msg: { parameterName: string; parameterValue: string }) => {
    const before = parameters.get(msg.parameterName);
    parameters.set(msg.parameterName, msg.parameterValue);
    if (before !== undefined && before !== msg.parameterValue) onChange?.(msg.parameterName);
  });
  return parameters;
}
