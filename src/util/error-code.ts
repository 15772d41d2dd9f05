import { thrownString } from '../logging/thrown-value.js';

/**
 * The `code` of a thrown value (a SQLSTATE such as `'40001'`, or a Node code such as `'ECONNRESET'`) when it is
 * a string, else undefined. Never throws, whatever was thrown (a getter that throws, a revoked Proxy).
 */
export function errorCode(err: unknown): string | undefined {
  return thrownString(err, 'code');
}
