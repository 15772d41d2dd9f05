import { ConfigError } from '../errors.js';
import type { TransactionOptions } from '../index.js';
import { errorCode } from '../util/error-code.js';
import { describeValue, likelyTypo } from '../util/option-checks.js';

/** Options of the request middleware (Express and Fastify alike). */
export interface RequestTransactionOptions<Req> {
  /** HTTP methods that get a transaction. Default: POST, PUT, PATCH, DELETE (no transaction for GET). */
  methods?: readonly string[];
  /**
   * Per-request choice, consulted before `methods`: `false` = no transaction, `true` = one with default
   * options, an object = one with these options (isolation, readOnly, settings, timeoutMillis), `undefined` =
   * decide by `methods`. `retry` is refused: the response is already being written when a conflict shows.
   */
  transaction?: (req: Req) => TransactionOptions | boolean | undefined;
  /** Which response statuses roll the transaction back. Default: status >= 400. */
  isFailure?: (status: number) => boolean;
}

/** The error body sent when a request's transaction failed to commit. */
export interface CommitFailureBody {
  error: string;
  code: string | undefined;
}

const DEFAULT_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];
const OPTION_KEYS = ['methods', 'transaction', 'isFailure'];

/** Validated middleware options. */
export interface RequestPolicy<Req> {
  /** The transaction options for this request, or `false` for none. */
  decide(req: Req, method: string): TransactionOptions | false;
  isFailure(status: number): boolean;
}

/** Validates the middleware options once; throws ConfigError naming the field. */
export function requestPolicy<Req>(options: RequestTransactionOptions<Req> | undefined): RequestPolicy<Req> {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new ConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  const o = options ?? {};
  // Other keys may be the framework's (Fastify's plugin options hold `pool`, `prefix`): only near misses fail.
  for (const key of Object.keys(o)) {
    if (OPTION_KEYS.includes(key)) continue;
    const meant = likelyTypo(key, OPTION_KEYS);
    if (meant !== undefined) throw new ConfigError(key, `unknown option; did you mean '${meant}'?`);
  }
  if (
    o.methods !== undefined &&
    (!Array.isArray(o.methods) || o.methods.some((m) => typeof m !== 'string'))
  ) {
    throw new ConfigError(
      'methods',
      `expected an array of HTTP method names, got ${describeValue(o.methods)}`,
    );
  }
  for (const key of ['transaction', 'isFailure'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') {
      throw new ConfigError(key, `expected a function, got ${describeValue(o[key])}`);
    }
  }
  const methods = new Set((o.methods ?? DEFAULT_METHODS).map((m) => m.toUpperCase()));
  const choose = o.transaction;
  return {
    decide(req, method) {
      const chosen = choose?.(req);
      if (chosen === false) return false;
      if (chosen === true) return {};
      if (chosen !== undefined) {
        if (typeof chosen !== 'object' || chosen === null || Array.isArray(chosen)) {
          throw new ConfigError(
            'transaction',
            `expected transaction(req) to return transaction options, true, false or undefined, got ${describeValue(chosen)}`,
          );
        }
        if (chosen.retry !== undefined) {
          throw new ConfigError('retry', 'request middleware cannot retry: the handler has already answered');
        }
        return chosen;
      }
      return methods.has(method.toUpperCase()) ? {} : false;
    },
    isFailure: o.isFailure ?? ((status) => status >= 400),
  };
}

/** The body of the 500 response that replaces a response whose transaction failed to commit. */
export function commitFailureBody(err: unknown): CommitFailureBody {
  return { error: 'the transaction could not be committed', code: errorCode(err) };
}
