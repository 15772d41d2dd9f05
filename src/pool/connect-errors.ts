import { isErrorObject, thrownString } from '../logging/thrown-value.js';
import { errorCode } from '../util/error-code.js';

/**
 * Which connection failures a retry can fix. Refused, reset and timed-out connections, a server that is
 * starting up or shutting down (57P03, 57P01) or out of connection slots (53300, class 53, class 08) are
 * transient; authentication (28P01, 28000), a missing database (3D000), TLS configuration and anything
 * unrecognised are not, and fail at once.
 */

const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ECONNABORTED',
]);

const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '53000', '53100', '53200', '53400']);

/** pg's own messages for a connection that died or timed out before startup finished. */
const TRANSIENT_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout expired',
  'Connection terminated',
];

/**
 * pg's messages for a query it refused on a client whose connection was already lost or closed: nothing was
 * sent. This file is the one place that reads pg's message text; pg gives these failures no code.
 */
const NEVER_SENT_MESSAGES = ['Client has encountered a connection error', 'Client was closed'];

/** pg's message for its `query_timeout`. */
const QUERY_TIMEOUT_MESSAGE = 'Query read timeout';

function messageOf(err: unknown): string {
  return isErrorObject(err) ? (thrownString(err, 'message') ?? '') : '';
}

/** True when a failed connection attempt may succeed if tried again later. */
export function isTransientConnectError(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) {
    if (TRANSIENT_NODE_CODES.has(code) || TRANSIENT_SQLSTATES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
    return false;
  }
  const message = messageOf(err);
  return TRANSIENT_MESSAGES.some((m) => message.startsWith(m));
}

/**
 * True for an error that means the connection itself is gone (socket closed, backend terminated, server
 * shutting down), as opposed to a statement the server refused.
 */
export function isConnectionLoss(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) {
    return TRANSIENT_NODE_CODES.has(code) || /^(57P0[1-3]|08[0-9A-Z]{3})$/.test(code);
  }
  const message = messageOf(err);
  return (
    TRANSIENT_MESSAGES.some((m) => message.startsWith(m)) ||
    // pg's query_timeout: the statement may still run and its answer may still come, so the connection is in
    // doubt (never reused), and a COMMIT that timed out has an unknown outcome.
    message === QUERY_TIMEOUT_MESSAGE ||
    NEVER_SENT_MESSAGES.some((m) => message.startsWith(m))
  );
}

/** True for pg's refusal of a query on a client that had already lost its connection: nothing was sent. */
export function wasNeverSent(err: unknown): boolean {
  const message = messageOf(err);
  return NEVER_SENT_MESSAGES.some((m) => message.startsWith(m));
}

/** True for pg's `query_timeout` (the statement may still be running on the server). */
export function isQueryTimeout(err: unknown): boolean {
  return messageOf(err) === QUERY_TIMEOUT_MESSAGE;
}
