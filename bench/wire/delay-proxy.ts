import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProxyRequest, ProxyResponse, WireCounts } from './wire-counts.js';

/** A running delay proxy (a child process) in front of one PostgreSQL server. */
export interface DelayProxy {
  /** The server's URL with host and port replaced by the proxy's. */
  readonly url: string;
  /** Zeroes the counters. */
  reset(): Promise<void>;
  /** The counts since the last reset. */
  read(): Promise<WireCounts>;
  stop(): Promise<void>;
}

const PROCESS_SCRIPT = fileURLToPath(new URL('./delay-proxy-process.ts', import.meta.url));

/**
 * Starts a TCP proxy on 127.0.0.1 that holds each chunk `delayMillis` in each direction, in a child process
 * (it runs with this process's loader flags, without profiling flags).
 */
export async function startDelayProxy(serverUrl: string, delayMillis: number): Promise<DelayProxy> {
  const target = new URL(serverUrl);
  const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--cpu-prof'));
  const child: ChildProcess = fork(
    PROCESS_SCRIPT,
    [target.hostname, target.port || '5432', String(delayMillis)],
    { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`delay proxy exited with code ${code}`)));
    child.once('message', (message: { ready?: number }) => {
      if (typeof message.ready === 'number') resolve(message.ready);
      else reject(new Error('delay proxy sent an unexpected first message'));
    });
  });
  child.removeAllListeners('exit');
  child.removeAllListeners('error');

  let nextId = 0;
  const pending = new Map<number, (counts: WireCounts) => void>();
  child.on('message', (message: ProxyResponse) => {
    pending.get(message.id)?.(message.counts);
    pending.delete(message.id);
  });
  const ask = (kind: ProxyRequest['kind']) =>
    new Promise<WireCounts>((resolve) => {
      const request: ProxyRequest = { id: ++nextId, kind };
      pending.set(request.id, resolve);
      child.send(request);
    });

  const url = new URL(serverUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.href,
    reset: async () => {
      await ask('reset');
    },
    read: () => ask('read'),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill();
      await exited;
    },
  };
}
