import type { Lease } from '../pool/lease.js';
import { serverVersion } from '../pool/pg-client-internals.js';
import { captureXidSql, isServerAnswer, type XidAnswer } from './commit-resolution.js';

/**
 * Learns a transaction's id in COMMIT's own flight: the statement asking for it is written with COMMIT in one
 * socket write (pg's pipeline mode), and the server answers it before it reads the COMMIT, so the id is known
 * as soon as COMMIT starts to run, at no extra round trip. Only what the answer was is kept (see
 * {@link XidAnswer}); a failure of the statement itself is COMMIT's business, not this one's.
 */
export class XidCapture {
  #answer: XidAnswer = 'pending';

  /** Sends the statement on `lease`, which must then send COMMIT in the same tick. */
  constructor(lease: Lease) {
    lease.startPipeline();
    lease.query<{ xid: string | null }>(captureXidSql(serverVersion(lease.rawClient))).then(
      (result) => {
        this.#answer = { xid: result.rows[0]?.xid ?? null };
      },
      (err: unknown) => {
        // The COMMIT behind it settles the transaction either way; only whether the server answered matters.
        if (isServerAnswer(err)) this.#answer = 'refused';
      },
    );
  }

  /** What the statement's answer was, so far. */
  get answer(): XidAnswer {
    return this.#answer;
  }
}
