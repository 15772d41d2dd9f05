import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/** Where the proxy forwards to. */
export interface ProxyTarget {
  host: string;
  port: number;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a test server, whose faults the test switches on and off. Each accepted
 * connection gets its own upstream connection; bytes are forwarded both ways, in order, after the current
 * latency. Every timer is unref'd, so a forgotten proxy never keeps the process alive; `close()` ends all.
 */
export interface FaultProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** Always `'127.0.0.1'`. */
  readonly host: string;
  /** Connections open through the proxy now (client side). */
  readonly connectionCount: number;
  /** Connections accepted since the proxy started (refused ones included). */
  readonly acceptedCount: number;
  /** Delays every chunk, both ways, by `ms` from now on (0 = none). */
  latency(ms: number): void;
  /** Stops forwarding both ways and keeps every socket open, as a network partition does; new ones too. */
  blackhole(): void;
  /** Destroys every open connection, both sides, at once. */
  cutAll(): void;
  /** `true`: each new connection is destroyed the moment it arrives. `false`: accepted again. */
  refuse(on: boolean): void;
  /**
   * From now on, a connection open before this call whose client has sent nothing for `idleMillis` dies when
   * the client's next bytes arrive, before they are forwarded (an idle connection silently dropped by a NAT or
   * firewall): both sides are destroyed. Connections opened later are left alone (on a loaded machine a new
   * connection's own startup can pause that long). `resume()` ends it.
   */
  cutAfterIdle(idleMillis: number): void;
  /** Connections destroyed by {@link cutAfterIdle} so far. */
  readonly idleCuts: number;
  /** Ends the blackhole, the refusal, the latency and the idle cut: forwarding resumes where it stopped. */
  resume(): void;
  /** Stops listening and destroys every connection. Idempotent. */
  close(): Promise<void>;
}

/** One chunk waiting for its time to be written. */
interface Pending {
  readonly due: number;
  readonly chunk: Buffer;
}

/** One direction of one proxied connection: reads `from`, writes `to` after the latency. */
class Pipe {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #proxy: ProxyState;
  readonly #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(from: Socket, to: Socket, proxy: ProxyState) {
    this.#from = from;
    this.#to = to;
    this.#proxy = proxy;
    from.on('data', (chunk: Buffer) => {
      this.#queue.push({ due: performance.now() + proxy.latencyMillis, chunk });
      this.pump();
    });
  }

  /** Writes what is due, unless the network is cut; schedules itself for the rest. */
  pump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#proxy.blackholed) {
      this.#from.pause();
      return;
    }
    this.#from.resume();
    const now = performance.now();
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as Pending;
      if (head.due > now) {
        this.#timer = setTimeout(() => this.pump(), Math.ceil(head.due - now));
        this.#timer.unref();
        return;
      }
      this.#queue.shift();
      if (!this.#to.destroyed) this.#to.write(head.chunk);
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }
}

/** The switches every connection of one proxy reads. */
interface ProxyState {
  latencyMillis: number;
  blackholed: boolean;
  refusing: boolean;
  /** See `cutAfterIdle`; undefined: off. */
  cutIdleMillis: number | undefined;
  /** `performance.now()` when `cutAfterIdle` was called: only connections opened before it are cut. */
  cutIdleSince: number;
  idleCuts: number;
}

/** One client connection and its upstream twin. */
class Link {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly #pipes: Pipe[];
  #closed = false;

  constructor(client: Socket, target: ProxyTarget, state: ProxyState, onClose: (link: Link) => void) {
    this.client = client;
    this.upstream = tcpConnect(target.port, target.host);
    // Registered before the pipe's listener, so a cut chunk is never forwarded.
    const openedAt = performance.now();
    let clientSentAt = openedAt;
    client.on('data', () => {
      const now = performance.now();
      if (
        state.cutIdleMillis !== undefined &&
        openedAt < state.cutIdleSince &&
        now - clientSentAt >= state.cutIdleMillis &&
        !this.#closed
      ) {
        state.idleCuts++;
        this.#closed = true;
        this.destroy();
        onClose(this);
      }
      clientSentAt = now;
    });
    this.#pipes = [new Pipe(client, this.upstream, state), new Pipe(this.upstream, client, state)];
    const close = () => {
      if (this.#closed) return;
      this.#closed = true;
      this.destroy();
      onClose(this);
    };
    for (const socket of [client, this.upstream]) {
      socket.setNoDelay(true);
      // Resets and broken pipes are what this proxy is for; each one simply ends the link.
      socket.on('error', close);
      socket.on('close', close);
      // A half-close (FIN) is passed on as such, in order after the data already queued.
      socket.on('end', () => {
        const other = socket === client ? this.upstream : client;
        if (!other.destroyed) other.end();
      });
    }
    this.pump();
  }

  pump(): void {
    for (const pipe of this.#pipes) pipe.pump();
  }

  destroy(): void {
    for (const pipe of this.#pipes) pipe.stop();
    this.client.destroy();
    this.upstream.destroy();
  }
}

/**
 * Starts a fault proxy on 127.0.0.1 (a free port) forwarding to `target`. Rejects if it cannot listen.
 */
export async function startFaultProxy(target: ProxyTarget): Promise<FaultProxy> {
  const state: ProxyState = {
    latencyMillis: 0,
    blackholed: false,
    refusing: false,
    cutIdleMillis: undefined,
    cutIdleSince: Number.NEGATIVE_INFINITY,
    idleCuts: 0,
  };
  const links = new Set<Link>();
  let accepted = 0;
  let closing: Promise<void> | undefined;

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    client.on('error', () => {
      // A refused or cut connection may error on the way out; it is being destroyed anyway.
    });
    if (state.refusing || closing) {
      client.resetAndDestroy();
      return;
    }
    links.add(new Link(client, target, state, (link) => links.delete(link)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('fault proxy has no port');

  const pumpAll = () => {
    for (const link of links) link.pump();
  };

  return {
    port: address.port,
    host: '127.0.0.1',
    get connectionCount() {
      return links.size;
    },
    get acceptedCount() {
      return accepted;
    },
    latency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be >= 0 ms, got ${ms}`);
      state.latencyMillis = ms;
    },
    blackhole() {
      state.blackholed = true;
      pumpAll();
    },
    cutAll() {
      for (const link of [...links]) link.destroy();
    },
    refuse(on) {
      state.refusing = on;
    },
    cutAfterIdle(idleMillis) {
      if (!Number.isFinite(idleMillis) || idleMillis < 0) {
        throw new RangeError(`idle time must be >= 0 ms, got ${idleMillis}`);
      }
      state.cutIdleMillis = idleMillis;
      state.cutIdleSince = performance.now();
    },
    get idleCuts() {
      return state.idleCuts;
    },
    resume() {
      state.blackholed = false;
      state.refusing = false;
      state.latencyMillis = 0;
      state.cutIdleMillis = undefined;
      pumpAll();
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const link of [...links]) link.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
