import { type Logger, pino } from 'pino';
import type { Redactor } from './redact.js';

/** The level of pg-scope's own logger when the caller gives none: `PG_SCOPE_LOG_LEVEL` or `'warn'`. */
export function defaultLevel(): string {
  return process.env.PG_SCOPE_LOG_LEVEL || 'warn';
}

/**
 * The pool's name in log lines: its `application_name` (given as an option or inside the connection string),
 * else `'pg-scope'`.
 */
export function poolName(config: { application_name?: string; connectionString?: string }): string {
  // pg's fields reach here unchecked (a symbol would throw in URL.canParse): only strings name the pool.
  if (typeof config.application_name === 'string' && config.application_name) return config.application_name;
  const url = config.connectionString;
  const fromUrl =
    typeof url === 'string' && URL.canParse(url) ? new URL(url).searchParams.get('application_name') : null;
  return fromUrl || 'pg-scope';
}

/**
 * The pool's logger: a child of the caller's pino logger (so lines join the service's stream) or of a new one,
 * bound to the pool's name, with an `err` serializer that removes secrets.
 */
export function createPoolLogger(base: Logger | undefined, poolName: string, redactor: Redactor): Logger {
  const root =
    base ??
    pino({
      level: defaultLevel(),
      name: 'pg-scope',
      redact: {
        paths: ['password', '*.password', 'connectionString', '*.connectionString'],
        censor: '[redacted]',
      },
    });
  return root.child({ pool: poolName }, { serializers: { err: (e: unknown) => redactor.error(e) } });
}
