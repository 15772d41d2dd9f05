import { describe, expect, it } from 'vitest';
import { isErrorObject, thrownField, thrownMessage, thrownString } from './thrown-value.js';

const throwingProxy = new Proxy(
  {},
  {
    get() {
      throw new Error('get trap');
    },
    getPrototypeOf() {
      throw new Error('getPrototypeOf trap');
    },
  },
);

describe('reading thrown values', () => {
  it('gives the message of errors and message-bearing objects, the string form of the rest', () => {
    expect(thrownMessage(new Error('boom'))).toBe('boom');
    expect(thrownMessage({ message: 'plain' })).toBe('plain');
    expect(thrownMessage('text')).toBe('text');
    expect(thrownMessage(42)).toBe('42');
    expect(thrownMessage(undefined)).toBe('undefined');
    expect(thrownMessage(null)).toBe('null');
    expect(thrownMessage(Symbol('s'))).toBe('Symbol(s)');
    expect(thrownMessage(Object.freeze({ toString: () => 'frozen' }))).toBe('frozen');
  });

  it('never throws: a prototype-less object, a throwing toString, a Proxy whose traps throw', () => {
    expect(thrownMessage(Object.create(null))).toBe('[object Object]');
    expect(
      thrownMessage({
        toString() {
          throw new Error('no');
        },
      }),
    ).toBe('[object Object]');
    expect(thrownMessage(throwingProxy)).toBe('[a thrown object]');
  });

  it('reads a field, or gives undefined when there is none or reading it throws', () => {
    expect(thrownField({ code: '23505' }, 'code')).toBe('23505');
    expect(thrownField(Object.create(null), 'code')).toBeUndefined();
    expect(thrownField(throwingProxy, 'code')).toBeUndefined();
    expect(thrownField(null, 'code')).toBeUndefined();
    expect(thrownField('text', 'length')).toBeUndefined();
    expect(thrownString({ code: 7 }, 'code')).toBeUndefined();
    expect(thrownString({ code: '7' }, 'code')).toBe('7');
  });

  it('tells errors from other values without throwing', () => {
    expect(isErrorObject(new TypeError('x'))).toBe(true);
    expect(isErrorObject({ message: 'x' })).toBe(false);
    expect(isErrorObject(throwingProxy)).toBe(false);
  });
});
