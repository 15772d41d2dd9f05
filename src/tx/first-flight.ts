import { isConnectionLoss, isQueryTimeout } from '../pool/connect-errors.js';
import type { Lease } from '../pool/lease.js';
import type { TxSettings } from './tx-options.js';

/**
 * A top-level transaction's deferred BEGIN and its first flight. BEGIN (with the `settings` statement) waits
 * for the first statement and travels with it in pg's pipeline mode: one round trip. When the connection dies
 * under that flight before any answer arrived, no COMMIT was sent and the callback has seen nothing, so the
 * flight may be re-sent once on another connection (see {@link takeResend}).
 */
export class FirstFlight {
  #begun: boolean;
  /** The error of BEGIN or of the `settings` statement sent with it, if one failed. */
  #beginError: unknown;
  /** Acquires another connection for the re-send (a transaction on a pool connection); used once. */
  #resend: (() => Promise<Lease>) | undefined;
  /** Statements sent before any answer came (the first flight's). */
  #flight = 0;
  /** Set when the first answer (BEGIN's) arrived: from then on nothing is re-sent. */
  #answered = false;

  /** `begun`: nothing to defer (a savepoint: its transaction has begun). */
  constructor(begun: boolean) {
    this.#begun = begun;
  }

  /** True once BEGIN was sent. */
  get begun(): boolean {
    return this.#begun;
  }

  /** The error BEGIN or the `settings` statement failed with, if any. */
  get beginError(): unknown {
    return this.#beginError;
  }

  /** Lets the first flight be re-sent once on a connection from `acquire`. */
  allowResend(acquire: () => Promise<Lease>): void {
    this.#resend = acquire;
  }

  /**
   * Sends BEGIN and the `settings` statement on `lease` unless already sent; `pipeline`: without waiting for
   * their answers. `onError` gets their failure. Returns true when it sent them now.
   */
  begin(lease: Lease, settings: TxSettings, pipeline: boolean, onError: (err: unknown) => void): boolean {
    if (this.#begun) return false;
    this.#begun = true;
    lease.beforeClientAccess = undefined;
    const info = lease.info;
    if (pipeline) {
      lease.startPipeline();
      info.beginUnanswered = true;
    }
    const record = (err: unknown) => {
      info.beginUnanswered = false;
      this.#beginError ??= err;
      onError(err);
    };
    lease.query(settings.begin).then(() => {
      info.beginUnanswered = false;
      this.#answered = true;
    }, record);
    if (settings.settingsSql)
      lease.query(settings.settingsSql, settings.settingParams as string[]).catch(record);
    return true;
  }

  /** A statement is about to be sent: true when it belongs to a flight that may still be re-sent. */
  enter(): boolean {
    const first = this.#resend !== undefined && !this.#answered;
    if (first) this.#flight++;
    return first;
  }

  /**
   * After the first flight's statement failed with `err` on `old`: the acquire for the re-send when the flight
   * may go again — the connection died (not a statement timeout), no answer came, that statement was the only
   * one in flight — else undefined. Either way no second re-send is allowed.
   */
  takeResend(err: unknown, old: Lease): (() => Promise<Lease>) | undefined {
    const acquire = this.#resend;
    this.#resend = undefined;
    const dead = isConnectionLoss(err) && !isQueryTimeout(err);
    if (!acquire || !dead || this.#answered || this.#flight !== 1 || old.info.inflight > 0) return undefined;
    return acquire;
  }

  /** The flight moves to another connection: BEGIN is to be sent again there. */
  restart(): void {
    this.#begun = false;
    this.#beginError = undefined;
  }
}
