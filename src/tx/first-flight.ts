import type { ClientInfo } from '../pool/client-info.js';
import { isConnectionLoss, isQueryTimeout } from '../pool/connect-errors.js';
import type { Lease } from '../pool/lease.js';
import type { StatementAhead } from '../pool/pg-queries.js';
import type { TxSettings } from './tx-options.js';

/** Who records a failure of BEGIN or of the `settings` statement (the transaction). */
export interface BeginErrors {
  recordError(err: unknown): void;
}

/**
 * A top-level transaction's deferred BEGIN and its first flight. BEGIN (with the `settings` statement) waits
 * for the first statement and travels with it in pg's pipeline mode: one round trip. When the connection dies
 * under that flight before any answer arrived, no COMMIT was sent and the callback has seen nothing, so the
 * flight may be re-sent once on another connection (see {@link takeResend}).
 */
export class FirstFlight implements StatementAhead {
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
   * their answers. `errors` records their failure. Returns true when it sent them now.
   */
  begin(lease: Lease, settings: TxSettings, pipeline: boolean, errors: BeginErrors): boolean {
    if (this.#begun) return false;
    this.#begun = true;
    lease.beforeClientAccess = undefined;
    // What the scope wrote before this transaction is not the transaction's first write (see wroteLast).
    lease.lastCommand = undefined;
    const info = lease.info;
    if (pipeline) {
      lease.startPipeline();
      info.beginUnanswered = true;
    }
    this.#info = info;
    this.#errors = errors;
    if (pipeline && lease.state === 'leased') {
      // The statement sent behind it in this tick keeps the connection counted as busy and pipelined, and
      // fails the same way if the connection does: BEGIN needs no promise of its own (pg's callback form).
      // It goes in the Sync of the statement behind it when that one can carry it: the server then skips that
      // statement if BEGIN fails, so no cancel request can make it run outside the transaction.
      lease.rawSent();
      this.#rawLease = lease;
      this.text = settings.begin;
      // The `settings` statement carries BEGIN and the first statement follows in a Sync of its own: as a
      // named statement the server may have lost, BEGIN would make that one wait for its answer.
      this.mayName = !settings.settingsSql;
      lease.sendAhead(this);
    } else {
      lease.query(settings.begin).then(() => this.#settled(null), this.#settled);
    }
    if (settings.settingsSql) {
      this.settingsSettled = lease
        .query(settings.settingsSql, settings.settingParams as string[])
        .then(noop, this.#settled);
    }
    return true;
  }

  /**
   * Settles once the `settings` statement's answer was taken in (its failure recorded), when one was sent: a
   * statement behind it that failed only because it failed waits for it (see TxRecord.statementFailed).
   */
  settingsSettled: Promise<void> | undefined;

  /** StatementAhead: the BEGIN sent ahead of the first statement. */
  text = '';
  /** StatementAhead: whether BEGIN may go as a named statement of the connection (`prepare: true`). */
  mayName = true;
  /** StatementAhead: BEGIN's answer. */
  readonly done = (err: Error | null): void => this.#settled(err);

  /**
   * StatementAhead: BEGIN goes in the first statement's Sync. A failure of BEGIN (a cancel request landing on
   * it) then makes the server skip that statement, so a cancel is as safe as once BEGIN has answered, until
   * another statement goes behind them in a Sync of its own (see ClientInfo.beginCarried).
   */
  carried(named?: boolean): void {
    const info = this.#info;
    if (info === undefined) return;
    info.beginUnanswered = false;
    info.beginCarried = true;
    // Named, BEGIN may be one the server lost (see ClientInfo.beginHold): what follows waits for its answer.
    if (named) {
      info.beginHold = new Promise((resolve) => {
        this.#release = resolve;
      });
    }
  }

  /** Lets the statements held behind a named BEGIN go (or fail, with BEGIN's error). */
  #release: ((err: unknown) => void) | undefined;

  /** Where the last {@link begin} sent BEGIN, and who records its failure. */
  #info: ClientInfo | undefined;
  #errors: BeginErrors | undefined;
  /** The lease a BEGIN was sent on in pg's callback form, until its answer: see Lease.rawSent. */
  #rawLease: Lease | undefined;

  /** BEGIN answered (`err` null), or BEGIN or the `settings` statement failed. Made once per transaction. */
  readonly #settled = (err: unknown): void => {
    const raw = this.#rawLease;
    if (raw) {
      // BEGIN sent on the raw client: its answer (or failure) comes first, before the `settings` statement's.
      this.#rawLease = undefined;
      raw.rawAnswered();
    }
    const info = this.#info;
    if (info) {
      info.beginUnanswered = false;
      info.beginCarried = false;
    }
    const release = this.#release;
    if (release) {
      this.#release = undefined;
      if (info) info.beginHold = undefined;
      release(err ?? undefined);
    }
    if (err === null || err === undefined) {
      this.#answered = true;
      return;
    }
    this.#beginError ??= err;
    this.#errors?.recordError(err);
  };

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
    this.settingsSettled = undefined;
  }
}

function noop(): void {
  // The `settings` statement's rows are not needed.
}
