import { describe, expect, it } from 'vitest';
import { WaiterQueue } from './waiter-queue.js';

describe('WaiterQueue: FIFO, with removal from anywhere', () => {
  it('shifts in the order pushed, and peek leaves the head in place', () => {
    const q = new WaiterQueue<string>();
    q.push('a');
    q.push('b');
    q.push('c');
    expect(q.size).toBe(3);
    expect(q.peek()).toBe('a');
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual(['a', 'b', 'c', undefined]);
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
  });

  it('removes a node from the middle, the head and the tail, keeping the order of the rest', () => {
    const q = new WaiterQueue<number>();
    const [one, , three, , five] = [1, 2, 3, 4, 5].map((n) => q.push(n));
    for (const node of [three, one, five]) if (node) q.remove(node);
    expect(q.size).toBe(2);
    expect(q.shift()).toBe(2);
    expect(q.shift()).toBe(4);
    expect(q.shift()).toBeUndefined();
  });

  it('ignores a node removed twice or already shifted (a timeout racing a delivery)', () => {
    const q = new WaiterQueue<string>();
    const a = q.push('a');
    const b = q.push('b');
    expect(q.shift()).toBe('a');
    expect(a.queued).toBe(false);
    q.remove(a);
    q.remove(b);
    q.remove(b);
    expect(q.size).toBe(0);
    q.push('c');
    expect(q.shift()).toBe('c');
  });
});
