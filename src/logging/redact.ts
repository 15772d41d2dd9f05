/**
 * The fields of an error kept in a log line: pg's server fields (SQLSTATE, detail, hint and the names of the
 * objects involved; not `where` or `internalQuery`, which can quote SQL with values) and Node's system-error
 * fields.
 */
const ERROR_FIELDS = [
  'code',
  'severity',
  'detail',
  'hint',
  'position',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'routine',
  'errno',
  'syscall',
  'reason',
] as const;

/** How deep `cause` chains and AggregateErrors are followed (a cycle must not loop). */
const MAX_DEPTH = 4;

/**
 * Keeps secrets out of log lines and error messages: the password, and any connection string that holds one.
 */
export class Redactor {
  readonly #secrets: string[];

  /** `secrets`: the literal strings never to print (a password, a connection string). Empty ones are ignored. */
  constructor(secrets: Iterable<string | undefined>) {
    const list = new Set<string>();
    for (const s of secrets) {
      if (typeof s === 'string' && s.length > 0) {
        list.add(s);
        // A password may also appear URL-encoded inside a connection string.
        const encoded = encodeURIComponent(s);
        if (encoded !== s) list.add(encoded);
      }
    }
    // Longest first, so a connection string is replaced whole before the password inside it.
    this.#secrets = [...list].sort((a, b) => b.length - a.length);
  }

  /** The text with every secret replaced by `[redacted]`. */
  text(value: string): string {
    let out = value;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
    // Any URL with credentials: keep the user, drop the password.
    return out.replace(/(postgres(?:ql)?:\/\/[^:/@\s]*:)[^@\s]*@/gi, '$1[redacted]@');
  }

  /**
   * A plain object for pino's `err` field: type, message, code and server fields, secrets removed; `cause` and
   * an AggregateError's `errors` (a refused connection to every address of a host) likewise, a few levels deep.
   */
  error(err: unknown, depth = 0): Record<string, unknown> {
    if (!(err instanceof Error)) return { message: this.text(String(err)) };
    const e = err as Error & Record<string, unknown>;
    const out: Record<string, unknown> = { type: e.name, message: this.text(e.message) };
    for (const key of ERROR_FIELDS) {
      const v = e[key];
      if (v !== undefined && v !== null) out[key] = typeof v === 'string' ? this.text(v) : v;
    }
    if (typeof e.stack === 'string') out.stack = this.text(e.stack);
    if (depth < MAX_DEPTH) {
      if (e.cause !== undefined) out.cause = this.error(e.cause, depth + 1);
      if (Array.isArray(e.errors)) out.errors = e.errors.map((inner) => this.error(inner, depth + 1));
    }
    return out;
  }
}
