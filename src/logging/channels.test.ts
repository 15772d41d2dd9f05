import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics_channel from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import { traced } from './channels.js';

interface Message {
  id: number;
  error?: unknown;
  filled?: string;
}

function record(name: string) {
  const channel = diagnostics_channel.tracingChannel<Message>(name);
  const events: string[] = [];
  const on = (event: string) => (m: unknown) => {
    events.push(`${event}:${(m as Message).filled ?? '-'}`);
  };
  const handlers = {
    start: on('start'),
    end: on('end'),
    asyncStart: on('asyncStart'),
    asyncEnd: on('asyncEnd'),
    error: on('error'),
  };
  channel.subscribe(handlers);
  return { channel, events, stop: () => channel.unsubscribe(handlers) };
}

describe('traced(): tracePromise order, the message filled by `done`, never the result', () => {
  it('resolves: start, end, then asyncStart and asyncEnd after done', async () => {
    const { channel, events, stop } = record('pg-scope-test:resolve');
    const message: Message = { id: 1 };
    const value = await traced(
      channel,
      message,
      async () => ({ rows: ['secret'] }),
      (m, result, failed) => {
        m.filled = `${result?.rows.length}:${failed}`;
      },
    );
    stop();
    expect(value).toEqual({ rows: ['secret'] });
    expect(events).toEqual(['start:-', 'end:-', 'asyncStart:1:false', 'asyncEnd:1:false']);
    expect(Object.keys(message).sort()).toEqual(['filled', 'id']);
  });

  it('rejects: error before asyncStart and asyncEnd, with the same error object', async () => {
    const { channel, events, stop } = record('pg-scope-test:reject');
    const boom = new Error('boom');
    const message: Message = { id: 2 };
    const err = await traced(
      channel,
      message,
      () => Promise.reject(boom),
      (m, _r, failed) => {
        m.filled = String(failed);
      },
    ).catch((e: unknown) => e);
    stop();
    expect(err).toBe(boom);
    expect(message.error).toBe(boom);
    expect(events).toEqual(['start:-', 'end:-', 'error:true', 'asyncStart:true', 'asyncEnd:true']);
  });

  it('a synchronous throw: error, then end, and the throw goes on', () => {
    const { channel, events, stop } = record('pg-scope-test:throw');
    const boom = new Error('sync');
    const message: Message = { id: 3 };
    expect(() =>
      traced(
        channel,
        message,
        () => {
          throw boom;
        },
        undefined,
      ),
    ).toThrow(boom);
    stop();
    expect(events).toEqual(['start:-', 'error:-', 'end:-']);
  });

  it('only start or end subscribed: the promise of run() as it is, nothing waits on it', async () => {
    const channel = diagnostics_channel.tracingChannel<Message>('pg-scope-test:start-only');
    const seen: string[] = [];
    const onStart = () => seen.push('start');
    channel.start.subscribe(onStart);
    const message: Message = { id: 4 };
    const promise = Promise.resolve(7);
    let filled = false;
    const returned = traced(
      channel,
      message,
      () => promise,
      () => {
        filled = true;
      },
    );
    channel.start.unsubscribe(onStart);
    expect(returned).toBe(promise);
    expect(await returned).toBe(7);
    expect(seen).toEqual(['start']);
    expect(filled).toBe(false);
  });

  it('a store bound on start holds while run() runs, also with no subscriber at all', async () => {
    const channel = diagnostics_channel.tracingChannel<Message>('pg-scope-test:store');
    const store = new AsyncLocalStorage<Message>();
    channel.start.bindStore(store);
    const inside = await traced(channel, { id: 5 }, async () => store.getStore()?.id, undefined);
    channel.start.unbindStore(store);
    expect(inside).toBe(5);
    expect(store.getStore()).toBeUndefined();
  });

  it('only asyncEnd subscribed: done fills the message before it, start and end publish to no one', async () => {
    const channel = diagnostics_channel.tracingChannel<Message>('pg-scope-test:async-end-only');
    const seen: string[] = [];
    const onAsyncEnd = (m: unknown) => seen.push(`asyncEnd:${(m as Message).filled}`);
    channel.asyncEnd.subscribe(onAsyncEnd);
    await traced(
      channel,
      { id: 6 },
      async () => 1,
      (m) => {
        m.filled = 'yes';
      },
    );
    channel.asyncEnd.unsubscribe(onAsyncEnd);
    expect(seen).toEqual(['asyncEnd:yes']);
  });
});
