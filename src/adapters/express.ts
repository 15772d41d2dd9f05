import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Pool } from '../index.js';
import { commitFailureBody, type RequestTransactionOptions, requestPolicy } from './request-transaction.js';

export type { RequestTransactionOptions } from './request-transaction.js';

/**
 * Express 5 middleware: one transaction per request, opened lazily on the first query made through `pool`
 * (`pool.query()`, `pool.transaction()`, `pool.current()`, or `pool.pgPool()` in Kysely/Drizzle), so a request
 * that never queries never holds a connection.
 *
 * The transaction is committed before the response goes out; if COMMIT fails, the client gets a 500 instead
 * (or, if the handler already streamed headers with `res.write`, the connection is cut: never a complete 2xx
 * for work that did not commit). It is rolled back when the handler throws (Express answers 500), answers with
 * a failure status (default >= 400), or the client disconnects first. When `req.log` is a pino logger (e.g.
 * from pino-http), it becomes a child bound to the transaction's `txId`.
 */
export function transactionPerRequest(
  pool: Pool,
  options?: RequestTransactionOptions<Request>,
): RequestHandler {
  const policy = requestPolicy(options);
  return (req: Request, res: Response, next: NextFunction) => {
    let decided: ReturnType<typeof policy.decide>;
    try {
      decided = policy.decide(req, req.method);
    } catch (err) {
      return next(err);
    }
    if (decided === false) return next();
    const onOpen = (tx: { id: string }) => {
      const log = (req as { log?: { child?: (b: object) => unknown } }).log;
      if (typeof log?.child === 'function') (req as { log?: unknown }).log = log.child({ txId: tx.id });
    };
    pool.runInRequestScope(decided, onOpen, (scope) => {
      let ending = false;
      const end = res.end.bind(res) as (...args: unknown[]) => Response;
      // Hold the end of the response until the transaction's outcome is known.
      (res as { end: unknown }).end = (...args: unknown[]) => {
        if (ending) return end(...args);
        ending = true;
        scope.finish(!policy.isFailure(res.statusCode)).then(
          () => end(...args),
          (err: unknown) => {
            if (res.headersSent) {
              res.destroy(err instanceof Error ? err : undefined);
              return;
            }
            const body = JSON.stringify(commitFailureBody(err));
            res.statusCode = 500;
            res.removeHeader('ETag');
            res.setHeader('Content-Type', 'application/json; charset=utf-8');
            res.setHeader('Content-Length', Buffer.byteLength(body));
            end(body);
          },
        );
        return res;
      };
      res.once('close', () => {
        // The client went away before the response ended: roll back and give the connection back.
        if (!ending) {
          ending = true;
          void scope.finish(false);
        }
      });
      next();
    });
  };
}
