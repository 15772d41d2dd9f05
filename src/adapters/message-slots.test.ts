import { describe, expect, it } from 'vitest';
import { MessageSlot } from './message-slots.js';

describe('MessageSlot: what each instrumentation keeps on a message', () => {
  it('keeps one value per owner, and takes each back without touching the others', () => {
    const slot = new MessageSlot<string>();
    const message = { poolName: 'p' };
    const first = {};
    const second = {};
    const third = {};
    expect(slot.get(message, first)).toBeUndefined();
    slot.set(message, first, 'a');
    slot.set(message, second, 'b');
    slot.set(message, third, 'c');
    expect([slot.get(message, first), slot.get(message, second), slot.get(message, third)]).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(slot.take(message, second)).toBe('b');
    expect(slot.get(message, second)).toBeUndefined();
    expect(slot.take(message, third)).toBe('c');
    expect(slot.take(message, third)).toBeUndefined();
    expect(slot.get(message, first)).toBe('a');
    expect(slot.take(message, first)).toBe('a');
    expect(slot.get(message, first)).toBeUndefined();
  });

  it('adds no enumerable field to the message', () => {
    const slot = new MessageSlot<number>();
    const message = { poolName: 'p' };
    slot.set(message, {}, 1);
    expect(Object.keys(message)).toEqual(['poolName']);
    expect(JSON.stringify(message)).toBe('{"poolName":"p"}');
  });
});
