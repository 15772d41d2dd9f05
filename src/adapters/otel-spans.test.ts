import { describe, expect, it } from 'vitest';
import { TransactionTimeoutError } from '../index.js';
import { errorType } from './otel-spans.js';

describe('errorType: a failure as error.type, never its message', () => {
  it('a SQLSTATE, else pg-scope’s or the system’s code, else the class name, else _OTHER', () => {
    expect(errorType(Object.assign(new Error('duplicate key value'), { code: '23505' }))).toBe('23505');
    expect(errorType(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(errorType(Object.assign(new Error('x'), { code: 'not a code, a value' }))).toBe('Error');
    expect(errorType(new TransactionTimeoutError(100))).toBe('TX_TIMEOUT');
    expect(errorType(new TypeError('a value: secret'))).toBe('TypeError');
    expect(errorType('a thrown string')).toBe('_OTHER');
    expect(errorType(undefined)).toBe('_OTHER');
  });
});
