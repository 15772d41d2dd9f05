import pg from 'pg';
import type { Logger } from 'pino';
import { connectChannel } from '../logging/channels.js';
import type { DestroyReason } from '../logging/events.js';
import { LogEvent } from '../logging/events.js';
import { MAX_TIMER_MILLIS, raceTimeout, timerDelay } from '../util/timers.js';
import type { ClientInfo } from './client-info.js';
import { isConnectionLoss } from './connect-errors.js';
import { ConnectionCloser } from './connection-closer.js';
import { UNSAFE_REASONS } from './destroy-reason.js';
import { type HostConnector, HostSelector } from './host-selector.js';
import { holdProcess, watchServerVersion } from './pg-client-internals.js';
import { type ChannelSource, publishConnect } from './pool-channels.js';
import type { PoolSettings } from './pool-config.js';
import { StatementCache } from './statement-cache.js';
import { StatementPolicy } from './statement-policy.js';

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
  /** Connection ids, from the first moment of an attempt. */
  readonly #ids = new WeakMap<pg.Client, number>();
  /** With several hosts (or a `targetSessionAttrs`): which server each new connection goes to. */
  readonly #selector: HostSelector | undefined;
  #created = 0;
  #destroyed = 0;
  /** Closes connections for good, within bounds (see ConnectionCloser). */
  readonly #closer = new ConnectionCloser();
  /** Called when an open connection breaks (socket error, terminated backend, closed socket). */
  onBroken: (() => void) | undefined;
  /** Called when an open connection reaches its lifetime (`expiresAt`): one sitting idle is to be replaced. */
  onExpired: (() => void) | undefined;
  /** The timer of each open connection's `expiresAt`, cleared when it is destroyed. */
  readonly #expiryTimers = new Map<pg.Client, NodeJS.Timeout>();
  /** What the connections' statement caches share, with `prepare: true`. */
  readonly statements: StatementPolicy | undefined;

  constructor(settings: PoolSettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
    if (settings.prepare) this.statements = new StatementPolicy(settings.statementCacheSize, log);
    if (settings.hostPlan) {
      this.#selector = new HostSelector(settings.hostPlan, log, this.#connector);
    }
  }

  /**
   * @internal Told of each connection opened (after `onConnect`) and each one destroyed: the `pgPool()` view's
   * `'connect'` and `'remove'` events. Must not throw.
   */
  observer: { opened(client: pg.Client): void; closed(client: pg.Client): void } | undefined;

  /** @internal The pool named in `pg-scope:connect` messages. */
  channelSource: ChannelSource | undefined;

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
    const started = performance.now();
    const selector = this.#selector;
    let client: pg.Client | undefined;
    try {
      client = selector
        ? await selector.connect(settings.clientConfig.driverConfig())
        : await this.#open(settings.clientConfig.driverConfig());
      if (settings.onConnect) await this.#runOnConnect(client, started);
    } catch (err) {
      if (connectChannel.hasSubscribers && this.channelSource)
        publishConnect(this.channelSource, started, err);
      // The attempt already failed; closing its socket is best effort (the closer never rejects).
      if (client) void this.#closer.end(client);
      throw err;
    }
    // An idle connection, until the pool lends it (see markIdle).
    if (settings.allowExitOnIdle) holdProcess(client, false);
    const now = performance.now();
    const lifetime = settings.maxLifetimeMillis;
    const id = this.#ids.get(client) ?? 0;
    const expiresAt =
      lifetime === Number.POSITIVE_INFINITY ? lifetime : now + lifetime * (1 - Math.random() * 0.1);
    this.#watchExpiry(client, expiresAt - now);
    this.#info.set(client, {
      id,
      createdAt: now,
      expiresAt,
      brokenBy: undefined,
      inflight: 0,
      beginUnanswered: false,
      beginCarried: false,
      beginHold: undefined,
      uses: 0,
      statements: this.statements && new StatementCache(this.statements, client),
    });
    this.#created++;
    this.observer?.opened(client);
    if (connectChannel.hasSubscribers && this.channelSource) publishConnect(this.channelSource, started);
    if (this.#log.isLevelEnabled('debug')) {
      this.#log.debug(
        { event: LogEvent.connect, connectionId: id, connectMillis: Math.round(now - started) },
        'connection opened',
      );
    }
    return client;
  }

  /**
   * Tells `onExpired` when the connection reaches its lifetime, so that one sitting idle (a connection kept for
   * `min` that no caller takes) is closed and replaced then, not whenever a caller next takes it. A lifetime
   * longer than a timer can wait (~24.8 days) is left to the checks on acquire and return.
   */
  #watchExpiry(client: pg.Client, millis: number): void {
    if (millis > MAX_TIMER_MILLIS) return;
    const timer = setTimeout(
      () => {
        this.#expiryTimers.delete(client);
        this.onExpired?.();
      },
      timerDelay(millis + 1),
    );
    timer.unref();
    this.#expiryTimers.set(client, timer);
  }

  /** One attempt at one server, `onConnect` not yet run. Rejects with the driver's error, the client closed. */
  async #open(config: pg.ClientConfig): Promise<pg.Client> {
    const client = new pg.Client(config);
    const id = ++this.#nextId;
    watchServerVersion(client);
    this.#ids.set(client, id);
    this.#selector?.watch(client);
    client.on('error', (err: Error) => this.#onClientError(client, id, err));
    client.on('end', () => {
      const info = this.#info.get(client);
      if (info && info.brokenBy === undefined) {
        info.brokenBy = new Error('Connection terminated');
        this.onBroken?.();
      }
    });
    // pg's connect() never settles when end() interrupts it, so abortConnecting() rejects this instead.
    const aborted = new Promise<never>((_, reject) => this.#connecting.set(client, reject));
    try {
      await Promise.race([client.connect(), aborted]);
    } catch (err) {
      // The attempt already failed; closing its socket is best effort (the closer never rejects).
      void this.#closer.end(client);
      throw err;
    } finally {
      this.#connecting.delete(client);
    }
    return client;
  }

  /** The multi-host pool's view of this factory (see HostSelector). */
  readonly #connector: HostConnector = {
    open: (config) => this.#open(config),
    close: (client) => this.#closer.end(client),
    markBroken: (client, why) => {
      const info = this.#info.get(client);
      if (info) info.brokenBy ??= why;
    },
  };

  async #runOnConnect(client: pg.Client, started: number): Promise<void> {
    const onConnect = this.#settings.onConnect;
    if (!onConnect) return;
    const budget = this.#settings.connectTimeoutMillis - (performance.now() - started);
    if (budget === Number.POSITIVE_INFINITY) return void (await onConnect(client));
    await raceTimeout(
      Promise.resolve(onConnect(client)),
      budget,
      () => new Error('Connection terminated due to connection timeout (onConnect)'),
    );
  }

  #onClientError(client: pg.Client, id: number, err: Error): void {
    const info = this.#info.get(client);
    if (info && info.brokenBy === undefined) {
      info.brokenBy = err;
      this.onBroken?.();
    }
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

  /**
   * With `allowExitOnIdle`, an idle connection's socket does not keep the process alive and a borrowed one does
   * (pg.Pool's rule). Without it, every socket does, as Node's sockets do.
   */
  markIdle(client: pg.Client, idle: boolean): void {
    if (this.#settings.allowExitOnIdle) holdProcess(client, !idle);
  }

  /** Marks a client broken when a query failed because the connection is gone. */
  noteQueryError(client: pg.Client, err: unknown): void {
    // 25006 on a pool that wants the primary: this server is read-only now (demoted), do not reuse.
    if (!isConnectionLoss(err) && !this.#selector?.noteQueryError(client, err)) return;
    const info = this.#info.get(client);
    if (info) info.brokenBy ??= err;
  }

  /**
   * Closes a connection for good. A query still running is cancelled first, so the backend does not go on
   * working for nobody. `scope`: the lease it is taken from, if any, for the line's `scopeId`. Never rejects.
   */
  async destroy(client: pg.Client, reason: DestroyReason, scope?: { readonly id: string }): Promise<void> {
    const info = this.#info.get(client);
    this.#selector?.forget(client);
    clearTimeout(this.#expiryTimers.get(client));
    this.#expiryTimers.delete(client);
    this.#destroyed++;
    info?.statements?.closed();
    this.observer?.closed(client);
    const level = UNSAFE_REASONS.has(reason) ? 'warn' : 'debug';
    if (this.#log.isLevelEnabled(level)) {
      this.#log[level](
        { event: LogEvent.destroy, connectionId: info?.id, scopeId: scope?.id, reason },
        'connection destroyed',
      );
    }
    await this.#closer.close(client, info);
  }

  /**
   * The pool is closing and its close timeout ends at `deadline` (`performance.now()` based): from then on the
   * connections being closed stop cancelling their queries and get only a brief goodbye.
   */
  finishBy(deadline: number): void {
    this.#closer.finishBy(deadline);
  }

  /** Waits until every connection being closed is gone (each is bounded). */
  ended(): Promise<void> {
    return this.#closer.ended();
  }

  /** Aborts connection attempts still in progress (pool closing). */
  abortConnecting(): void {
    for (const [client, abort] of this.#connecting) {
      abort(new Error('Connection terminated: the pool is closing'));
      // Aborting an attempt; its own connect() call reports the failure (the closer never rejects).
      void this.#closer.end(client);
    }
  }
}
