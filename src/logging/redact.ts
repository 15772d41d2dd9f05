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

  /** A plain object for pino's `err` field: type, message, code and server fields, secrets removed. */
  error(err: unknown): Record<string, unknown> {
    if (!(err instanceof Error)) return { message: this.text(String(err)) };
    const e = err as Error & Record<string, unknown>;
    const out: Record<string, unknown> = { type: e.name, message: this.text(e.message) };
    for (const key of [
      'code',
      'severity',
      'detail',
      'hint',
      'position',
      'routine',
      'errno',
      'syscall',
      'reason',
    ]) {
      const v = e[key];
      if (v !== undefined && v !== null) out[key] = typeof v === 'string' ? this.text(v) : v;
    }
    if (typeof e.stack === 'string') out.stack = this.text(e.stack);
    if (e.cause !== undefined) out.cause = this.error(e.cause);
    return out;
  }
}
