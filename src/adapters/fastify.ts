import type { FastifyInstance, FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { Pool } from '../index.js';
import { commitFailureBody, type RequestTransactionOptions, requestPolicy } from './request-transaction.js';

export type { RequestTransactionOptions } from './request-transaction.js';

/** The lazy transaction scope the pool runs each request in (reached through the public `Pool` only). */
type RequestScope = Parameters<Parameters<Pool['runInRequestScope']>[2]>[0];

/** Options of the Fastify plugin: the pool, and the request policy. */
export interface PgScopeFastifyOptions extends RequestTransactionOptions<FastifyRequest> {
  /** The pg-scope pool whose queries join the request's transaction. */
  pool: Pool;
}

/**
 * Fastify 5 plugin: one transaction per request, opened lazily on the first query made through the pool, so a
 * request that never queries never holds a connection. Committed in `onSend`, before the response is
 * written: a failed COMMIT turns the reply into a 500. Rolled back when the handler throws, answers with a
 * failure status (default >= 400), or the client aborts the request. `request.log` becomes a child bound to
 * the transaction's `txId` when the transaction opens.
 *
 * Register it with `app.register(pgScopeFastify, { pool })`; it applies to the whole instance.
 */
export const pgScopeFastify: FastifyPluginCallback<PgScopeFastifyOptions> = (
  app: FastifyInstance,
  options: PgScopeFastifyOptions,
  done: (err?: Error) => void,
) => {
  const pool = options.pool;
  const policy = requestPolicy(options);
  const scopes = new WeakMap<FastifyRequest, RequestScope>();

  app.addHook('onRequest', (request, _reply, next) => {
    let decided: ReturnType<typeof policy.decide>;
    try {
      decided = policy.decide(request, request.method);
    } catch (err) {
      return next(err as Error);
    }
    if (decided === false) return next();
    const onOpen = (tx: { id: string }) => {
      request.log = request.log.child({ txId: tx.id });
    };
    // Everything after this hook (later hooks, the handler) runs in the request's scope.
    pool.runInRequestScope(decided, onOpen, (scope) => {
      scopes.set(request, scope);
      next();
    });
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const scope = scopes.get(request);
    if (!scope) return payload;
    scopes.delete(request);
    try {
      await scope.finish(!policy.isFailure(reply.statusCode));
    } catch (err) {
      reply.code(500);
      reply.header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(commitFailureBody(err));
    }
    return payload;
  });

  const abandon = async (request: FastifyRequest) => {
    const scope = scopes.get(request);
    if (!scope) return;
    scopes.delete(request);
    await scope.finish(false);
  };
  app.addHook('onRequestAbort', abandon);
  app.addHook('onResponse', abandon);
  done();
};

// Like fastify-plugin: the hooks apply to the instance that registers the plugin, not an encapsulated child.
(pgScopeFastify as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
