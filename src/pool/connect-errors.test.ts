import { describe, expect, it } from 'vitest';
import { isConnectionLoss, isQueryTimeout, isTransientConnectError, wasNeverSent } from './connect-errors.js';

const withCode = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });

describe('connect-error classification', () => {
  it.each([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'ENOTFOUND',
    'EAI_AGAIN',
    '57P03',
    '57P01',
    '53300',
    '08006',
  ])('%s is transient: the pool retries it while callers wait', (code) => {
    expect(isTransientConnectError(withCode(code))).toBe(true);
  });

  it.each(['28P01', '28000', '3D000', '42501', 'EPROTO', 'ERR_TLS_CERT_ALTNAME_INVALID'])(
    '%s is permanent: callers fail at once',
    (code) => {
      expect(isTransientConnectError(withCode(code))).toBe(false);
    },
  );

  it("pg's codeless messages: a cut connection or a connect timeout is transient, anything else is not", () => {
    expect(isTransientConnectError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientConnectError(new Error('Connection terminated due to connection timeout'))).toBe(true);
    expect(isTransientConnectError(new Error('self-signed certificate'))).toBe(false);
    expect(isTransientConnectError('a thrown string')).toBe(false);
    expect(isTransientConnectError(null)).toBe(false);
  });

  it('connection loss: socket and server-shutdown codes, pg’s lost-connection messages, its query timeout', () => {
    expect(isConnectionLoss(withCode('ECONNRESET'))).toBe(true);
    expect(isConnectionLoss(withCode('57P01'))).toBe(true);
    expect(isConnectionLoss(withCode('08003'))).toBe(true);
    expect(isConnectionLoss(new Error('Query read timeout'))).toBe(true);
    expect(isConnectionLoss(new Error('Client was closed and is not queryable'))).toBe(true);
    // A statement the server refused is not a lost connection.
    expect(isConnectionLoss(withCode('23505'))).toBe(false);
    expect(isConnectionLoss(withCode('53300'))).toBe(false);
    expect(isConnectionLoss(new Error('syntax error'))).toBe(false);
  });

  it('never sent and query timeout are told apart (they decide COMMIT’s outcome and the re-send)', () => {
    expect(wasNeverSent(new Error('Client has encountered a connection error and is not queryable'))).toBe(
      true,
    );
    expect(wasNeverSent(new Error('Client was closed and is not queryable'))).toBe(true);
    expect(wasNeverSent(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isQueryTimeout(new Error('Query read timeout'))).toBe(true);
    expect(isQueryTimeout(new Error('Connection terminated unexpectedly'))).toBe(false);
  });

  it('never throws on odd thrown values', () => {
    const hostile = new Proxy(
      {},
      {
        get() {
          throw new Error('trap');
        },
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    expect(isTransientConnectError(hostile)).toBe(false);
    expect(isConnectionLoss(hostile)).toBe(false);
    expect(wasNeverSent(Symbol('x'))).toBe(false);
  });
});
