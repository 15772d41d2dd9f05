import pg from 'pg';
import type { Logger } from 'pino';
import { LogEvent } from '../logging/events.js';
import { sendCancelRequest } from './cancel-request.js';
import { isConnectionLoss } from './connect-errors.js';
import type { PoolSettings } from './pool-options.js';

/** How long closing a connection keeps cancelling a query that is still running before it gives up. */
const CANCEL_RETRY_MILLIS = 2_000;

/** What the pool knows about each server connection it opened; kept beside the client, not on it. */
export interface ClientInfo {
  /** A short id for log lines. */
  readonly id: number;
  /** `performance.now()` when the connection opened. */
  readonly createdAt: number;
  /** `performance.now()` after which the connection is recycled (`maxLifetimeMillis` less jitter). */
  readonly expiresAt: number;
  /** Set when the connection broke (socket error, terminated backend): it must never be handed out again. */
  brokenBy: unknown;
  /** Queries sent through a scope handle and not yet answered. */
  inflight: number;
}

/** Destroy reasons logged at warn: the connection broke, or could not be made safe for reuse. */
const UNSAFE_REASONS: ReadonlySet<string> = new Set([
  'broken',
  'reset failed',
  'query still running',
  'scope ended abnormally',
]);

/**
 * Opens and closes server connections: one attempt at a time (the pool paces retries), with the connect
 * timeout covering `onConnect` too, an `'error'` listener on every client from its first moment so no socket
 * error can crash the process, and a cancel request before closing a connection whose query still runs.
 */
export class ConnectionFactory {
  readonly #settings: PoolSettings;
  readonly #log: Logger;
  readonly #info = new WeakMap<pg.Client, ClientInfo>();
  /** Attempts in progress, each with the function that makes its connect() reject (see abortConnecting). */
  readonly #connecting = new Map<pg.Client, (err: Error) => void>();
  /** Clients whose error was already logged at warn. */
  readonly #reported = new WeakSet<pg.Client>();
  #nextId = 0;
  #created = 0;
  #destroyed = 0;

  constructor(settings: PoolSettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
  }

  /** Server connections opened so far. */
  get created(): number {
    return this.#created;
  }
  /** Server connections closed so far. */
  get destroyed(): number {
    return this.#destroyed;
  }

  /** The pool's record of a client it opened. */
  info(client: pg.Client): ClientInfo | undefined {
    return this.#info.get(client);
  }

  /** One connection attempt. Rejects with the driver's (or `onConnect`'s) error; the client is closed then. */
  async connect(): Promise<pg.Client> {
    const settings = this.#settings;
    const client = new pg.Client(settings.clientConfig.driverConfig());
    const id = ++this.#nextId;
    client.on('error', (err: Error) => this.#onClientError(client, id, err));
    client.on('end', () => {
      const info = this.#info.get(client);
      if (info && info.brokenBy === undefined) info.brokenBy = new Error('Connection terminated');
    });
    // pg's connect() never settles when end() interrupts it, so abortConnecting() rejects this instead.
    const aborted = new Promise<never>((_, reject) => this.#connecting.set(client, reject));
    const started = performance.now();
    try {
      await Promise.race([client.connect(), aborted]);
      if (settings.onConnect) await this.#runOnConnect(client, started);
    } catch (err) {
      this.#connecting.delete(client);
      client.end().catch(() => {
        // The attempt already failed; closing its socket is best effort and its error adds nothing.
      });
      throw err;
    }
    this.#connecting.delete(client);
    const now = performance.now();
    const lifetime = settings.maxLifetimeMillis;
    this.#info.set(client, {
      id,
      createdAt: now,
      expiresAt:
        lifetime === Number.POSITIVE_INFINITY ? lifetime : now + lifetime * (1 - Math.random() * 0.1),
      brokenBy: undefined,
      inflight: 0,
    });
    this.#created++;
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug(
        { event: LogEvent.connect, connectionId: id, connectMillis: Math.round(now - started) },
        'connection opened',
      );
    }
    return client;
  }

  async #runOnConnect(client: pg.Client, started: number): Promise<void> {
    const onConnect = this.#settings.onConnect;
    if (!onConnect) return;
    const budget = this.#settings.connectTimeoutMillis - (performance.now() - started);
    if (budget === Number.POSITIVE_INFINITY) return void (await onConnect(client));
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        onConnect(client),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('Connection terminated due to connection timeout (onConnect)')),
            Math.min(Math.max(0, budget), 2 ** 31 - 1),
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #onClientError(client: pg.Client, id: number, err: Error): void {
    const info = this.#info.get(client);
    if (info) info.brokenBy ??= err;
    // pg reports a terminated backend twice (the server's message, then the socket's end): warn once.
    const level = this.#reported.has(client) ? 'debug' : 'warn';
    this.#reported.add(client);
    if (this.#log.isLevelEnabled(level)) {
      this.#log[level](
        { event: LogEvent.connError, connectionId: id, err },
        'connection error; it will be removed',
      );
    }
  }

  /** Marks a client broken when a query failed because the connection is gone. */
  noteQueryError(client: pg.Client, err: unknown): void {
    if (!isConnectionLoss(err)) return;
    const info = this.#info.get(client);
    if (info) info.brokenBy ??= err;
  }

  /**
   * Closes a connection for good. A query still running is cancelled first, so the backend does not go on
   * working for nobody. `scope`: the lease it is taken from, if any, for the line's `scopeId`. Never rejects.
   */
  async destroy(client: pg.Client, reason: string, scope?: { readonly id: string }): Promise<void> {
    const info = this.#info.get(client);
    const running = (info?.inflight ?? 0) > 0;
    this.#destroyed++;
    const level = UNSAFE_REASONS.has(reason) ? 'warn' : 'debug';
    if (this.#log.isLevelEnabled(level)) {
      this.#log[level](
        { event: LogEvent.destroy, connectionId: info?.id, scopeId: scope?.id, reason },
        'connection destroyed',
      );
    }
    // pg's end() waits for pipelined queries to finish: leave pipeline mode so a running query is dropped.
    (client as { pipeline: boolean }).pipeline = false;
    if (info && running && info.brokenBy === undefined) {
      // A cancel that reaches the backend before it has read the query is ignored (the backend would then run
      // on after the socket closes), so repeat it until the query has ended, for at most CANCEL_RETRY_MILLIS.
      const deadline = performance.now() + CANCEL_RETRY_MILLIS;
      do {
        await sendCancelRequest(client);
        if (info.inflight === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      } while (info.inflight > 0 && performance.now() < deadline);
    }
    await client.end().catch(() => {
      // The connection is being thrown away; a failure to say goodbye cleanly changes nothing.
    });
  }

  /** Aborts connection attempts still in progress (pool closing). */
  abortConnecting(): void {
    for (const [client, abort] of this.#connecting) {
      abort(new Error('Connection terminated: the pool is closing'));
      client.end().catch(() => {
        // Aborting an attempt; its own connect() call reports the failure.
      });
    }
  }
}
