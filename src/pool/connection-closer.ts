import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { timerDelay } from '../util/timers.js';
import { cancelPauseMillis, sendCancelRequest } from './cancel-request.js';
import type { ClientInfo } from './client-info.js';
import { endClient, holdProcess, setPipelined } from './pg-client-internals.js';

/** How long closing a connection keeps cancelling a query that is still running before it gives up. */
const CANCEL_RETRY_MILLIS = 2_000;
/** How long one cancel request waits for the server to close its socket (it does once it signalled the backend). */
const CANCEL_WAIT_MILLIS = 1_000;
/** How long a closing connection waits for the server to close the socket after Terminate; then it is destroyed. */
const END_WAIT_MILLIS = 1_000;
/** Once the pool's close timeout has passed: the wait of one last cancel request, and of the goodbye. */
const HURRIED_WAIT_MILLIS = 200;

/**
 * Closes server connections for good, each within a bound: a query still running is cancelled first (so the
 * backend does not go on working for nobody), then the connection says goodbye and its socket is destroyed if
 * the server does not close it in time. Once the pool's close timeout is set (`finishBy`), closing hurries.
 */
export class ConnectionCloser {
  /** `performance.now()` when the pool's close timeout ends (see finishBy); Infinity while it is open. */
  #deadline = Number.POSITIVE_INFINITY;
  /** Aborted at #deadline: cancel requests and the pauses between them stop. */
  readonly #hurry = new AbortController();
  #hurryTimer: NodeJS.Timeout | undefined;
  /** Connections saying goodbye (see end), so the pool's close can wait for every socket to be gone. */
  readonly #ending = new Set<Promise<void>>();

  /** Closes a connection whose record is `info` (if the pool has one), cancelling its running query. */
  async close(client: pg.Client, info: ClientInfo | undefined): Promise<void> {
    const running = (info?.inflight ?? 0) > 0;
    // pg's end() waits for pipelined queries to finish: leave pipeline mode so a running query is dropped.
    setPipelined(client, false);
    // Never while a pipelined BEGIN is unanswered (see ClientInfo.beginUnanswered): closing the socket ends it.
    if (info && running && info.brokenBy === undefined && !info.beginUnanswered) {
      await this.#cancelRunning(client, info);
    }
    await this.end(client);
  }

  /**
   * Cancels the query a closing connection still runs. A cancel that reaches the backend before it has read
   * the query is ignored (the backend would then run on after the socket closes), so it is repeated, with a
   * growing pause, until the query has ended, for at most CANCEL_RETRY_MILLIS and never past the pool's close
   * timeout: after it, one last request, briefly.
   */
  async #cancelRunning(client: pg.Client, info: ClientInfo): Promise<void> {
    const hurry = this.#hurry.signal;
    const until = performance.now() + CANCEL_RETRY_MILLIS;
    for (let attempt = 1; ; attempt++) {
      if (hurry.aborted) {
        if (attempt === 1) await sendCancelRequest(client, HURRIED_WAIT_MILLIS);
        return;
      }
      await sendCancelRequest(client, Math.min(CANCEL_WAIT_MILLIS, until - performance.now()), hurry);
      const pause = cancelPauseMillis(attempt);
      if (info.inflight === 0 || performance.now() + pause >= until) return;
      await sleep(pause, undefined, { signal: hurry }).catch(() => {
        // The pool's close timeout passed: checked at the top of the loop.
      });
      if (info.inflight === 0) return;
    }
  }

  /**
   * Says goodbye (Terminate) and closes the socket, destroying it when the server does not close it in time: at
   * most END_WAIT_MILLIS, and not past the pool's close timeout by more than HURRIED_WAIT_MILLIS. The socket
   * keeps the process alive until then, whatever `allowExitOnIdle` says: this is work in progress. Never rejects.
   */
  end(client: pg.Client): Promise<void> {
    holdProcess(client, true);
    const left = this.#deadline - performance.now();
    const ending = endClient(client, Math.min(END_WAIT_MILLIS, Math.max(HURRIED_WAIT_MILLIS, left))).finally(
      () => this.#ending.delete(ending),
    );
    this.#ending.add(ending);
    return ending;
  }

  /**
   * The pool is closing and its close timeout ends at `deadline` (`performance.now()` based): from then on the
   * connections being closed stop cancelling their queries and get only a brief goodbye.
   */
  finishBy(deadline: number): void {
    this.#deadline = deadline;
    clearTimeout(this.#hurryTimer);
    const wait = deadline - performance.now();
    if (wait <= 0) this.#hurry.abort();
    else if (wait !== Number.POSITIVE_INFINITY) {
      this.#hurryTimer = setTimeout(() => this.#hurry.abort(), timerDelay(wait));
      // Only closing sockets need it, and they keep the process alive themselves.
      this.#hurryTimer.unref();
    }
  }

  /** Waits until every connection being closed is gone (each is bounded: see end), then drops the deadline timer. */
  async ended(): Promise<void> {
    while (this.#ending.size > 0) await Promise.all([...this.#ending]);
    clearTimeout(this.#hurryTimer);
  }
}
