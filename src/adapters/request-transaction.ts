import { ConfigError } from '../errors.js';
import { describeValue } from '../pool/pool-options.js';
import type { TransactionOptions } from '../tx/tx-options.js';

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

/** Validated middleware options. */
export interface RequestPolicy<Req> {
  /** The transaction options for this request, or `false` for none. */
  decide(req: Req, method: string): TransactionOptions | false;
  isFailure(status: number): boolean;
}

/** Validates the middleware options once; throws ConfigError naming the field. */
export function requestPolicy<Req>(options: RequestTransactionOptions<Req> | undefined): RequestPolicy<Req> {
  const o = options ?? {};
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
  const code = (err as { code?: unknown } | null)?.code;
  return {
    error: 'the transaction could not be committed',
    code: typeof code === 'string' ? code : undefined,
  };
}
