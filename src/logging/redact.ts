import { isErrorObject, thrownField, thrownMessage, thrownString } from './thrown-value.js';

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
 * The most characters of one text (an error's message, detail, hint or stack) that a log line or a message
 * pg-scope builds carries: longer text, such as a server error echoing a huge value, is cut here and the
 * original length noted. 8 KB.
 */
export const MAX_TEXT_CHARS = 8_192;

const REDACTED = '[redacted]';
const COLON = 0x3a;
const SLASH = 0x2f;
const AT = 0x40;

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || c === 0x2028 || c === 0x2029;
}

/** Where the text from `from` on next has an `@` or white space (text.length if nowhere). */
function nextAtOrSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === AT || isSpace(c)) return i;
    i++;
  }
  return i;
}

/** `postgres://user:PASSWORD@` → `postgres://user:[redacted]@`, in one pass (no regex, no backtracking). */
function redactUrlPasswords(text: string, cut: boolean): string {
  let out = '';
  let last = 0;
  // The next '@' or space after the last password start looked at: reused while it lies ahead, so a text of
  // many unterminated URLs ('postgres://a:' repeated) is scanned once, not once per URL.
  let stop = -1;
  for (let from = 0; ; ) {
    const at = text.indexOf('://', from);
    if (at < 0) break;
    from = at + 3;
    const scheme = text.slice(Math.max(0, at - 10), at).toLowerCase();
    if (!scheme.endsWith('postgres') && !scheme.endsWith('postgresql')) continue;
    // The user part: up to ':', '/', '@' or white space. It stops at the next '://' at the latest.
    let i = from;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === COLON || c === SLASH || c === AT || isSpace(c)) break;
    }
    if (text.charCodeAt(i) !== COLON) continue;
    if (stop <= i) stop = nextAtOrSpace(text, i + 1);
    const ended = stop < text.length && text.charCodeAt(stop) === AT;
    // A text cut short may end inside a password: treat the rest as the password.
    if (!ended && !(cut && stop === text.length)) continue;
    out += text.slice(last, i + 1) + REDACTED;
    last = stop;
    from = Math.max(from, stop);
  }
  return last === 0 ? text : out + text.slice(last);
}

/** `password=VALUE` (a connection string's query parameter) → `password=[redacted]`, in one pass. */
function redactPasswordParams(text: string): string {
  const find = /password=/gi;
  let out = '';
  let last = 0;
  for (let m = find.exec(text); m; m = find.exec(text)) {
    const start = m.index + m[0].length;
    let end = start;
    for (; end < text.length; end++) {
      const ch = text[end];
      if (ch === '&' || ch === '"' || ch === "'" || ch === '#' || ch === ';' || isSpace(text.charCodeAt(end)))
        break;
    }
    if (end === start) continue;
    out += text.slice(last, start) + REDACTED;
    last = end;
    find.lastIndex = end;
  }
  return last === 0 ? text : out + text.slice(last);
}

/**
 * Removes credentials that any text may hold, whatever pool it comes from: the password of a `postgres://`
 * URL and a `password=` parameter. Linear in the text's length. `cut`: the text was truncated, so a URL
 * password running to its end is removed too.
 */
export function redactCredentials(text: string, cut = false): string {
  const withUrls = text.includes('://') ? redactUrlPasswords(text, cut) : text;
  return redactPasswordParams(withUrls);
}

/**
 * Keeps secrets out of log lines and error messages: the password, any connection string that holds one, and
 * text longer than {@link MAX_TEXT_CHARS}.
 */
export class Redactor {
  readonly #secrets: string[];
  readonly #longest: number;

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
    this.#longest = this.#secrets[0]?.length ?? 0;
  }

  /**
   * The text with every secret replaced by `[redacted]`, cut to {@link MAX_TEXT_CHARS} characters (with the
   * original length noted). Only the first part, plus a margin for a secret that straddles the cut, is
   * searched: the cost does not grow with the text.
   */
  text(value: string): string {
    if (value.length <= MAX_TEXT_CHARS) return this.#redact(value, false);
    const margin = Math.max(this.#longest, 1_024);
    const head = this.#redact(value.slice(0, MAX_TEXT_CHARS + margin), true);
    return `${head.slice(0, MAX_TEXT_CHARS)}… [truncated: ${value.length} characters in all]`;
  }

  #redact(value: string, cut: boolean): string {
    let out = value;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return redactCredentials(out, cut);
  }

  /**
   * A plain object for pino's `err` field: type, message, code and server fields, secrets removed and long
   * text cut; `cause` and an AggregateError's `errors` (a refused connection to every address of a host)
   * likewise, a few levels deep. Never throws, whatever was thrown.
   */
  error(err: unknown, depth = 0): Record<string, unknown> {
    if (!isErrorObject(err)) {
      const out: Record<string, unknown> = { type: typeof err, message: this.text(thrownMessage(err)) };
      const code = thrownField(err, 'code');
      if (typeof code === 'string' || typeof code === 'number') out.code = code;
      return out;
    }
    const type = thrownString(err, 'name') ?? 'Error';
    const message = thrownString(err, 'message') ?? '';
    const out: Record<string, unknown> = { type, message: this.text(message) };
    for (const key of ERROR_FIELDS) {
      const v = thrownField(err, key);
      if (typeof v === 'string') out[key] = this.text(v);
      else if (typeof v === 'number' || typeof v === 'boolean') out[key] = v;
    }
    const stack = thrownString(err, 'stack');
    if (stack !== undefined) {
      // The stack starts with the message: cut the message there, and keep the frames after it.
      const head = `${type}: ${message}`;
      out.stack = stack.startsWith(head)
        ? `${type}: ${out.message}${this.text(stack.slice(head.length))}`
        : this.text(stack);
    }
    if (depth < MAX_DEPTH) {
      const cause = thrownField(err, 'cause');
      if (cause !== undefined) out.cause = this.error(cause, depth + 1);
      const errors = thrownField(err, 'errors');
      if (Array.isArray(errors)) out.errors = errors.map((inner) => this.error(inner, depth + 1));
    }
    return out;
  }
}

/** A redactor that knows no pool's secrets: it removes URL passwords and `password=` parameters, and cuts. */
export const credentialRedactor = new Redactor([]);
