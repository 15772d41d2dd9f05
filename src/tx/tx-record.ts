import { SavepointOpenError, ScopeClosedError } from '../errors.js';
import type { DestroyReason } from '../logging/events.js';
import type { ClientAccessHook, Lease } from '../pool/lease.js';
import type { PoolCore } from '../pool/pool-core.js';
import { errorCode } from '../util/error-code.js';
import type { DeadlineWatch } from './deadline-watch.js';
import { FirstFlight } from './first-flight.js';
import { savepointName } from './savepoint-sql.js';
import { TxStateMachine } from './transaction-state.js';
import { logBegin } from './tx-log.js';
import type { TxSettings } from './tx-options.js';
import type { TxOutcomes } from './tx-outcomes.js';

let nextTxId = 0;

/**
 * Everything one transaction (or savepoint) knows, shared by the handle users hold (`Transaction`) and the
 * steps that act on it (commit, rollback, abort, the first flight's re-send), each in a file of its own. Not
 * exported from the package: users only ever see the handle.
 */
export class TxRecord<H extends object = object> implements ClientAccessHook {
  readonly core: PoolCore<TxOutcomes>;
  /** Replaced once at most: when the first flight is re-sent on another connection. */
  lease: Lease;
  /** True when the transaction took its own connection from the pool (and gives it back at its end). */
  readonly ownsLease: boolean;
  readonly parent: TxRecord<H> | undefined;
  /** The object users hold (the frame's handle, what `pool.current()` returns). */
  readonly handle: H;
  readonly settings: TxSettings;
  readonly startedAt = performance.now();
  /** The one state field and the one guard. */
  readonly sm = new TxStateMachine();
  /** The deferred BEGIN and the first flight (a savepoint's: already begun). */
  readonly flight: FirstFlight;
  /** A savepoint's name, unique in its transaction; empty at the top level. */
  readonly savepoint: string;
  /** The savepoint most recently opened directly inside this one; it blocks this one while it is active. */
  child: TxRecord<H> | undefined;
  /** The first statement error in this transaction or a savepoint inside it. */
  firstError: unknown;
  /** The deadline and abort watch (top level, when it has a deadline or a signal). */
  watch: DeadlineWatch | undefined;
  /** The cancel-and-roll-back that a deadline or abort started. */
  aborting: Promise<void> | undefined;
  /** Top level: the transaction's id, once learned before COMMIT (see `xid-capture.ts`). */
  xid: string | undefined;
  /** Top level: the id was asked for with a statement (once per transaction). */
  xidAsked = false;
  #ending: Promise<void> | undefined;
  /** Called once when the transaction ends, with its first statement error (a traced `await using` form). */
  onEnd: ((firstError: unknown) => void) | undefined;
  readonly #seq: number;
  /** A savepoint's number within its transaction (the n of its name); 0 at top level. */
  readonly #number: number;
  /** Top level: the number of savepoints opened so far, which names the next one. */
  #savepointCount = 0;

  constructor(
    handle: H,
    core: PoolCore<TxOutcomes>,
    lease: Lease,
    ownsLease: boolean,
    settings: TxSettings,
    parent: TxRecord<H> | undefined,
  ) {
    this.handle = handle;
    this.core = core;
    this.lease = lease;
    this.ownsLease = ownsLease;
    this.settings = settings;
    this.parent = parent;
    this.#number = parent ? ++parent.root().#savepointCount : 0;
    this.savepoint = parent ? savepointName(this.#number) : '';
    this.#seq = parent ? 0 : ++nextTxId;
    this.flight = new FirstFlight(parent !== undefined);
    if (!parent) lease.beforeClientAccess = this;
  }

  /**
   * `txId`: `t1`; for its savepoints the parent's id and the savepoint's number, unique within the transaction
   * (siblings `t1.1`, `t1.2`; one inside the second `t1.2.3`). Built only when a line or a message needs it.
   */
  get id(): string {
    return this.parent ? `${this.parent.id}.${this.#number}` : `t${this.#seq.toString(36)}`;
  }

  /** The connection's scope id. */
  get scopeId(): string {
    return this.lease.id;
  }

  /** The top-level transaction. */
  root(): TxRecord<H> {
    let t: TxRecord<H> = this;
    while (t.parent) t = t.parent;
    return t;
  }

  /** The one guard: this transaction's state, every enclosing one's, and the connection's. */
  guard(what: string): void {
    this.sm.guard(what);
    for (let p = this.parent; p; p = p.parent) {
      if (!p.sm.active)
        throw new ScopeClosedError(`cannot ${what}: the enclosing transaction is ${p.sm.state}`);
    }
    if (this.lease.state !== 'leased')
      throw new ScopeClosedError(`cannot ${what}: the connection was released`);
  }

  /**
   * The guard for work, savepoints and commit: besides {@link guard}, this must be the innermost open
   * savepoint. PostgreSQL keeps one stack of savepoints per transaction, so work sent here while a savepoint
   * is open inside would belong to that savepoint, and a sibling opened now would be nested in it.
   */
  guardInnermost(what: string): void {
    this.guard(what);
    const open = this.openChild();
    if (open) throw new SavepointOpenError(what, open.id);
  }

  /** True while every enclosing transaction is active. */
  enclosingActive(): boolean {
    for (let p = this.parent; p; p = p.parent) if (!p.sm.active) return false;
    return true;
  }

  /** The savepoint open directly inside this one, if any. */
  openChild(): TxRecord<H> | undefined {
    const child = this.child;
    return child?.sm.active ? child : undefined;
  }

  /** ClientAccessHook: the caller is about to use the raw client, inside this transaction (BEGIN sent first). */
  beforeClientAccess(): void {
    this.ensureBegun(false);
  }

  /** Sends BEGIN (and the transaction-local settings) if not yet sent. `pipeline`: do not wait for the answer. */
  ensureBegun(pipeline: boolean): void {
    if (!this.sm.active) return;
    if (this.flight.begin(this.lease, this.settings, pipeline, this)) {
      logBegin(this.core.log, this, this.settings);
    }
  }

  /** Records a statement error as the first error of this transaction and of the enclosing ones without one. */
  recordError(err: unknown): void {
    for (let t: TxRecord<H> | undefined = this; t; t = t.parent) {
      if (t.firstError === undefined) t.firstError = err;
      else break;
    }
  }

  /**
   * A statement failed with `err`: records it and throws what the statement rejects with (made once per
   * record). A `25P02` while the `settings` statement's answer is still being taken in (it failed, and pg
   * settles the statement behind it in fewer steps) waits for it, so BEGIN's error is known by then.
   */
  readonly statementFailed = (err: unknown): Promise<never> => {
    const flight = this.root().flight;
    const settings = flight.settingsSettled;
    if (settings !== undefined && flight.beginError === undefined && errorCode(err) === '25P02') {
      return settings.then(() => this.#failWith(err));
    }
    return this.#failWith(err);
  };

  #failWith(err: unknown): never {
    this.recordError(err);
    throw this.statementError(err);
  }

  /**
   * What a failed statement rejects with: pg's own error, except that a statement refused only because BEGIN
   * or the `settings` statement failed before it (`25P02`, the transaction is aborted) rejects with that
   * earlier error, which says what went wrong (an unknown setting name, a bad value).
   */
  statementError(err: unknown): unknown {
    const beginError = this.root().flight.beginError;
    return beginError !== undefined && errorCode(err) === '25P02' ? beginError : err;
  }

  /** Gives the connection back if this transaction owns it (once; later calls return the same promise). */
  finish(destroyReason: DestroyReason | undefined): Promise<void> {
    this.watch?.stop();
    if (!this.parent) this.lease.beforeClientAccess = undefined;
    const onEnd = this.onEnd;
    if (onEnd) {
      this.onEnd = undefined;
      onEnd(this.firstError);
    }
    if (!this.ownsLease) return Promise.resolve();
    this.#ending ??= this.lease.end(destroyReason);
    return this.#ending;
  }
}
