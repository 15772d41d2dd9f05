import { errorCode } from '../util/error-code.js';
import type { StatementAhead } from './pg-queries.js';
import { claimVanishedAhead } from './stale-errors.js';
import type { StatementPolicy } from './statement-policy.js';

/** The pool's own statements of one flight, named (see {@link OwnStatements.name}). */
export interface NamedAhead {
  readonly statements: StatementAhead[];
  /** True when one of them is parsed in this flight. */
  readonly parsing: boolean;
}

/**
 * One connection's named copies of the pool's own statements (`prepare: true`): BEGIN (one text per
 * transaction mode) and the transaction-id statement, written ahead of a cached statement in its Sync. They
 * are outside the cache's bound and never evicted: a few texts, used by every transaction.
 */
export class OwnStatements {
  readonly #policy: StatementPolicy;
  /** Called when the server lost one of them (see {@link name}). */
  readonly #onVanished: () => void;
  /** Names this connection has prepared (their first run answered). */
  readonly #parsed = new Set<string>();

  constructor(policy: StatementPolicy, onVanished: () => void) {
    this.#policy = policy;
    this.#onVanished = onVanished;
  }

  /**
   * `ahead` as named statements (`statementName` of the text, as any cached statement): only bound when this
   * connection has them, else closed, parsed and bound in the same flight (a Close of a name the server does
   * not have is no error, so the Parse never meets an old copy). Undefined when one of them may not be named
   * (`mayName` false): the caller then sends them as before.
   *
   * One the server lost (`26000`) fails the flight before anything behind it ran: its error is retryable
   * (`isStaleStatementError`), counts towards turning `prepare` off, and `onVanished` runs. Used by every
   * transaction, such a statement is lost only with the session's others (an unseen `DEALLOCATE ALL`, a
   * pooler's other server connection).
   */
  name(ahead: readonly StatementAhead[]): NamedAhead | undefined {
    const parsed = this.#parsed;
    const policy = this.#policy;
    let parsing = false;
    const statements: StatementAhead[] = [];
    for (const statement of ahead) {
      if (statement.mayName === false) return undefined;
      const name = policy.ownName(statement.text);
      const parse = !parsed.has(name);
      if (parse) parsing = true;
      statements.push({
        text: statement.text,
        name,
        parse,
        carried: () => statement.carried?.(true),
        done: (err, value) => {
          if (err === null) {
            parsed.add(name);
          } else if (!parse && errorCode(err) === '26000' && claimVanishedAhead(err)) {
            policy.noteVanished('26000');
            policy.recoveries++;
            this.#onVanished();
          }
          statement.done(err, value);
        },
      });
    }
    return { statements, parsing };
  }

  /** The session lost its statements, or the connection is gone. */
  clear(): void {
    this.#parsed.clear();
  }
}
