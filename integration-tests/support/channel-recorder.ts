import diagnostics_channel from 'node:diagnostics_channel';

/** The sub-channels of a TracingChannel, in the order Node publishes them. */
export type TraceEvent = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
const EVENTS: readonly TraceEvent[] = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'];

/** One event seen: its name and a shallow copy of the message as it was then (messages are filled in later). */
export interface SeenEvent<M> {
  readonly event: TraceEvent;
  readonly message: M;
  readonly snapshot: M;
}

/** Records every event of the TracingChannel `name` until `stop()`. */
export function recordTracing<M extends object>(name: string) {
  const channel = diagnostics_channel.tracingChannel(name);
  const seen: SeenEvent<M>[] = [];
  const handlers = Object.fromEntries(
    EVENTS.map((event) => [
      event,
      (message: unknown): void => {
        seen.push({ event, message: message as M, snapshot: { ...(message as M) } });
      },
    ]),
  ) as Record<TraceEvent, (message: unknown) => void>;
  channel.subscribe(handlers);
  return {
    seen,
    /** The events of the traces whose message matches `where`, grouped per message, in order. */
    traces(where: (message: M) => boolean = () => true): SeenEvent<M>[][] {
      const groups = new Map<M, SeenEvent<M>[]>();
      for (const e of seen) {
        if (!where(e.message)) continue;
        const group = groups.get(e.message) ?? [];
        group.push(e);
        groups.set(e.message, group);
      }
      return [...groups.values()];
    },
    stop: () => channel.unsubscribe(handlers),
  };
}

/** Records the messages of the plain channel `name` until `stop()`. */
export function recordChannel<M>(name: string) {
  const channel = diagnostics_channel.channel(name);
  const seen: M[] = [];
  const onMessage = (message: unknown) => seen.push(message as M);
  channel.subscribe(onMessage);
  return { seen, stop: () => channel.unsubscribe(onMessage) };
}
