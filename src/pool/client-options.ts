import { inspect } from 'node:util';
import type { ClientConfig } from 'pg';
import { ConfigError } from '../errors.js';

/** Fields where a connection string is a mistake: a URL there would reach the server, logs and errors. */
const NOT_A_URL = ['host', 'user', 'database', 'application_name', 'fallback_application_name'] as const;

/** The `ssl` fields that hold key material. */
const SSL_SECRETS = ['key', 'passphrase', 'pfx'] as const;

/**
 * Checks the string fields of pg's client configuration (every top-level string, and each string of an
 * array such as several hosts). A NUL character is refused everywhere: pg sends startup parameters as
 * NUL-terminated strings, so `'app\0search_path\0evil'` in `application_name` would set a second parameter.
 * In a connection string a percent-encoded NUL (`%00`) is refused for the same reason. A connection string
 * placed in `host`, `user`, `database` or an application name is refused too. Throws `ConfigError` naming the
 * field, never quoting the value.
 */
export function checkClientStrings(config: Readonly<Record<string, unknown>>): void {
  for (const [key, value] of Object.entries(config)) {
    if (typeof value === 'string') checkString(key, key, value);
    else if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (typeof item === 'string') checkString(key, `${key}[${i}]`, item);
      });
    }
  }
}

function checkString(key: string, field: string, value: string): void {
  if (value.includes('\0')) {
    throw new ConfigError(
      field,
      `must not contain a NUL character (\\0): pg sends it to the server as the end of the value (got a string of ${value.length} characters)`,
    );
  }
  if (key === 'connectionString' && value.includes('%00')) {
    throw new ConfigError(
      field,
      `must not contain a percent-encoded NUL (%00) (got a string of ${value.length} characters)`,
    );
  }
  if ((NOT_A_URL as readonly string[]).includes(key) && value.includes('://')) {
    throw new ConfigError(
      field,
      `looks like a connection string (a string of ${value.length} characters containing "://"); pass it as connectionString`,
    );
  }
}

/**
 * pg's client configuration as the pool keeps it: the password and the connection string live in private
 * fields, so neither enumerating the settings nor `JSON.stringify` nor `util.inspect` shows them; the other
 * fields are plain, frozen properties. {@link driverConfig} builds what `new pg.Client()` takes.
 */
class SealedClientConfig {
  readonly #password: unknown;
  readonly #connectionString: unknown;

  constructor(config: Readonly<Record<string, unknown>>) {
    const { password, connectionString, ...rest } = config;
    this.#password = password;
    this.#connectionString = connectionString;
    Object.assign(this, rest);
    Object.freeze(this);
  }

  /** The password, as given (a string or pg's password function). */
  get password(): unknown {
    return this.#password;
  }

  /** The connection string, as given. */
  get connectionString(): unknown {
    return this.#connectionString;
  }

  /** A fresh object for `new pg.Client(...)`: every field, the secrets included. */
  driverConfig(): ClientConfig {
    const config: Record<string, unknown> = { ...(this as object) };
    if (this.#password !== undefined) config.password = this.#password;
    if (this.#connectionString !== undefined) config.connectionString = this.#connectionString;
    return config as ClientConfig;
  }

  /**
   * The literal strings never to print: the password, the connection string, and the password inside it
   * (decoded, as the URL's user info or as its `password` parameter).
   */
  secrets(): string[] {
    const out: string[] = [];
    if (typeof this.#password === 'string') out.push(this.#password);
    const url = this.#connectionString;
    if (typeof url === 'string') {
      out.push(url);
      if (URL.canParse(url)) {
        const parsed = new URL(url);
        try {
          if (parsed.password) out.push(decodeURIComponent(parsed.password));
        } catch {
          // A malformed %-escape: the encoded form is in the list already (inside the whole string).
          out.push(parsed.password);
        }
        const param = parsed.searchParams.get('password');
        if (param) out.push(param);
      } else {
        // Several hosts (`postgres://u:pw@db1,db2/app`) are no WHATWG URL: take the user info apart by hand.
        const password = /^[a-z]+:\/\/[^:@/]*:([^@/]*)@/i.exec(url)?.[1];
        if (password) {
          out.push(password);
          try {
            out.push(decodeURIComponent(password));
          } catch {
            // A malformed %-escape: the encoded form is in the list already.
          }
        }
      }
    }
    return out;
  }

  /** `JSON.stringify`: the fields, with the password, the connection string and TLS key material redacted. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...(this as object) };
    if (this.#connectionString !== undefined) out.connectionString = '[redacted]';
    if (this.#password !== undefined) out.password = '[redacted]';
    const ssl = out.ssl;
    if (typeof ssl === 'object' && ssl !== null) {
      const copy: Record<string, unknown> = { ...ssl };
      for (const key of SSL_SECRETS)
        if ((ssl as Record<string, unknown>)[key] !== undefined) copy[key] = '[redacted]';
      out.ssl = copy;
    }
    return out;
  }

  /** `util.inspect`: the same as {@link toJSON}. */
  [inspect.custom](_depth = 0, options: import('node:util').InspectOptions = {}, show = inspect): string {
    return `ClientConfig ${show(this.toJSON(), options)}`;
  }
}

/** pg's client configuration, kept by the pool: the fields of `ClientConfig`, with the secrets hidden. */
export type ClientOptions = Readonly<ClientConfig> & {
  /** A fresh object for `new pg.Client(...)`, the secrets included. */
  driverConfig(): ClientConfig;
  /** The literal strings a redactor must remove: password, connection string, and the password inside it. */
  secrets(): string[];
};

/** Seals a client configuration (see {@link ClientOptions}); the caller has checked it. */
export function sealClientConfig(config: Readonly<Record<string, unknown>>): ClientOptions {
  return new SealedClientConfig(config) as unknown as ClientOptions;
}
