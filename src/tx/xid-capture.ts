import type { Lease } from '../pool/lease.js';
import { serverVersion } from '../pool/pg-client-internals.js';
import { queryFirstValue } from '../pool/pg-queries.js';
import { captureXidSql, isServerAnswer, type XidAnswer } from './commit-resolution.js';
import type { TxRecord } from './tx-record.js';

/** The row the id statement answers with (see `captureXidSql`). */
interface XidRow {
  xid: string | null;
}

/**
 * Learns a transaction's id in COMMIT's own flight: the statement asking for it is written with COMMIT in one
 * socket write (pg's pipeline mode), and the server answers it before it reads the COMMIT, so the id is known
 * as soon as COMMIT starts to run, at no extra round trip. Only what the answer was is kept (see
 * {@link XidAnswer}); a failure of the statement itself is COMMIT's business, not this one's.
 *
 * It goes to pg's client directly, with a callback, not through the lease: COMMIT, sent right behind it and
 * answered after it, keeps the connection counted as busy (and pipelined) for both, and the success path of
 * every writing transaction makes no promise for it, and no `Result` (see `queryFirstValue`).
 */
export class XidCapture {
  #answer: XidAnswer = 'pending';
  /**
   * How the connection was lost, when it was lost while this statement (ahead of COMMIT) waited: the first sign
   * of the loss (pg's `Query read timeout` under `query_timeout`), where COMMIT behind it only sees the close.
   */
  lostBy: Error | undefined;

  /** Sends the statement on `lease`, which must then send COMMIT in the same tick. */
  constructor(lease: Lease) {
    lease.startPipeline();
    this.#lease = lease;
    lease.rawSent();
    const client = lease.rawClient;
    queryFirstValue(client, captureXidSql(serverVersion(client)), this.#settled);
  }

  readonly #lease: Lease;

  readonly #settled = (err: Error | null, xid: string | null): void => {
    this.#lease.rawAnswered();
    if (err) {
      // The COMMIT behind it settles the transaction either way; only whether the server answered matters.
      if (isServerAnswer(err)) this.#answer = 'refused';
      else this.lostBy = err;
      return;
    }
    this.#answer = { xid };
  };

  /** What the statement's answer was, so far. */
  get answer(): XidAnswer {
    return this.#answer;
  }
}

/** Command tags of statements that write rows: once one changed a row, the transaction has its id. */
const WRITES: ReadonlySet<string> = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY']);

/** True when the statement answered last on `lease` wrote at least one row. */
export function wroteLast(lease: Lease): boolean {
  return lease.lastRowCount > 0 && lease.lastCommand !== undefined && WRITES.has(lease.lastCommand);
}

/**
 * Asks for the transaction's id in front of the statement about to be sent (in that statement's Sync when
 * it has parameters or is a single statement, see `Lease.sendAhead`; else in the same socket write, in pg's
 * pipeline mode), once its first write has been answered: the id is then known long before COMMIT, and its
 * answer arrives with that statement's, so the success path gains no round trip and no extra read. COMMIT then
 * needs no statement of its own for it. A failure or NULL leaves it to COMMIT's flight.
 *
 * Like {@link XidCapture} it goes to pg's client directly, with no promise and no `Result` (the statement
 * behind it keeps the connection counted as busy and pipelined, and fails the same way it would). With
 * `pg-scope:query` subscribers it goes the same way, and the lease publishes it (`tracedAhead`).
 */
export function askXidEarly(tx: TxRecord): void {
  tx.xidAsked = true;
  if (tx.settings.readOnly) return;
  const lease = tx.lease;
  const text = captureXidSql(serverVersion(lease.rawClient));
  if (lease.state === 'leased') {
    lease.startPipeline();
    lease.rawSent();
    lease.sendAhead({
      text,
      done: (err, xid) => {
        lease.rawAnswered();
        // A failure: the statement behind it fails the same way, and reports it; COMMIT's flight asks again.
        if (!err) tx.xid = xid ?? undefined;
      },
    });
    return;
  }
  lease.startPipeline();
  lease.query<XidRow>(text).then(
    (result) => {
      tx.xid = result.rows[0]?.xid ?? undefined;
    },
    () => {
      // As above.
    },
  );
}
