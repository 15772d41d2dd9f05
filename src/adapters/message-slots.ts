/**
 * Where the OpenTelemetry adapter keeps its spans on pg-scope's channel messages: under one symbol for
 * every instrumentation (so the messages keep the same few shapes and the property accesses stay fast),
 * as a short list keyed by the instrumentation when several instrumentations watch one pool.
 */
export class MessageSlot<V> {
  readonly #key = Symbol('pg-scope/otel');

  /** What `owner` keeps on `message`, if anything. */
  get(message: object, owner: object): V | undefined {
    for (let entry = this.#head(message); entry !== undefined; entry = entry.next) {
      if (entry.owner === owner) return entry.value;
    }
    return undefined;
  }

  /** Keeps `value` on `message` for `owner` (which keeps nothing there yet). */
  set(message: object, owner: object, value: V): void {
    const carrier = message as Carrier<V>;
    carrier[this.#key] = { owner, value, next: carrier[this.#key] };
  }

  /** Removes and returns what `owner` keeps on `message`. */
  take(message: object, owner: object): V | undefined {
    const carrier = message as Carrier<V>;
    let previous: Entry<V> | undefined;
    for (let entry = carrier[this.#key]; entry !== undefined; entry = entry.next) {
      if (entry.owner !== owner) {
        previous = entry;
        continue;
      }
      if (previous === undefined) carrier[this.#key] = entry.next;
      else previous.next = entry.next;
      return entry.value;
    }
    return undefined;
  }

  #head(message: object): Entry<V> | undefined {
    return (message as Carrier<V>)[this.#key];
  }
}

interface Entry<V> {
  readonly owner: object;
  readonly value: V;
  next: Entry<V> | undefined;
}

type Carrier<V> = Record<symbol, Entry<V> | undefined>;
