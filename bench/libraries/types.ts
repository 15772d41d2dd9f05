import type { Transfer } from '../sql.js';

/** How a workload opens a library. */
export interface OpenConfig {
  /** Connection URL (the server's, or the delay proxy's). */
  readonly url: string;
  /** Pool size. */
  readonly max: number;
  /**
   * Callers that run at once. Only the floor reads it: it opens one bare client per worker when that is
   * at most {@link maxBareClients}, and otherwise `max` clients behind a minimal queue.
   */
  readonly workers: number;
}

/** What a workload does through a library. */
export interface BenchClient {
  /** Acquire a connection, `SELECT 1`, give it back (or the library's one-query call, which does that). */
  select1(): Promise<void>;
  /** One transfer: BEGIN, two UPDATEs (ordered by id), a ledger INSERT, COMMIT. */
  transfer(transfer: Transfer): Promise<void>;
  /** Closes every connection. */
  close(): Promise<void>;
}

/** A pool of 2 whose two connections are both held by callers that wait on a gate. */
export interface HeldPool {
  /** A third caller: acquire (with the 100 ms acquire timeout the pool was made with) and `SELECT 1`. */
  attempt(): Promise<void>;
  /** Lets the two holders go and closes the pool. */
  close(): Promise<void>;
}

/** One library under test. */
export interface Library {
  /** Short name for `--libs`. */
  readonly id: string;
  /** Name in the tables. */
  readonly name: string;
  /** How the library is used, for the notes under the tables. */
  readonly usage: string;
  /** True for the bare pre-connected client: every ratio is relative to it. */
  readonly floor?: boolean;
  /**
   * True for a variant of pg-scope measured against pg-scope itself (an option's cost): it runs only when
   * `--libs` names it, and is never a peer in the targets.
   */
  readonly optIn?: boolean;
  open(config: OpenConfig): Promise<BenchClient>;
  /** Opens a pool of 2 with the given acquire timeout and holds both connections. Absent: no pool to exhaust. */
  exhaust?(url: string, acquireTimeoutMillis: number): Promise<HeldPool>;
}

/** The most bare clients the floor opens for one workload. */
export const maxBareClients = 32;

/** Idle timeout given to every pool: no connection closes between the rounds of a run. */
export const IDLE_MILLIS = 600_000;

/** A promise with its resolve function outside. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Starts two holders with `hold` (each calls `acquired` once it has its connection, then waits on the
 * returned gate) and resolves when both hold their connection.
 */
export async function holdTwo(
  hold: (acquired: () => void, release: Promise<void>) => Promise<unknown>,
): Promise<{ release: () => Promise<void> }> {
  const releaseGate = gate();
  const holders: Promise<unknown>[] = [];
  const acquired: Promise<void>[] = [];
  for (let i = 0; i < 2; i++) {
    const got = gate();
    acquired.push(got.promise);
    holders.push(hold(got.open, releaseGate.promise));
  }
  await Promise.race([
    Promise.all(acquired),
    Promise.all(holders).then(() => {
      throw new Error('a holder finished before it acquired');
    }),
  ]);
  return {
    release: async () => {
      releaseGate.open();
      await Promise.allSettled(holders);
    },
  };
}
