/**
 * Reading a thrown value safely. JavaScript can throw anything: an object with no prototype (`String()` on it
 * throws), a Symbol (a template literal with it throws), a Proxy whose traps throw, a frozen object. Code that
 * describes or classifies a failure must never fail itself: it runs in `catch` blocks and log serializers,
 * where a second throw would leak a connection or become an unhandled rejection.
 */

/** The text of a thrown value: its `message` when it has a string one, else its string form. Never throws. */
export function thrownMessage(value: unknown): string {
  try {
    if (typeof value === 'string') return value;
    if (typeof value === 'symbol') return value.toString();
    if ((typeof value === 'object' && value !== null) || typeof value === 'function') {
      const message = (value as { message?: unknown }).message;
      if (typeof message === 'string') return message;
    }
    return String(value);
  } catch {
    // No usable message or toString (a prototype-less object, a throwing Proxy): describe it by its kind.
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    // A Proxy that throws even on Symbol.toStringTag.
    return `[a thrown ${typeof value}]`;
  }
}

/** `value[key]`, or undefined when `value` is not an object or reading the property throws. Never throws. */
export function thrownField(value: unknown, key: string): unknown {
  if ((typeof value !== 'object' || value === null) && typeof value !== 'function') return undefined;
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    // A getter or Proxy trap that throws: the field is unreadable, which is the same as absent here.
    return undefined;
  }
}

/** `thrownField(value, key)` when it is a string, else undefined. Never throws. */
export function thrownString(value: unknown, key: string): string | undefined {
  const field = thrownField(value, key);
  return typeof field === 'string' ? field : undefined;
}

/** `value instanceof Error`, false when the check itself throws (a Proxy's getPrototypeOf trap). */
export function isErrorObject(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    // A Proxy that refuses getPrototypeOf: not something to read as an Error.
    return false;
  }
}

/**
 * A copy of a thrown error for a log line that must not repeat its stack: an `Error` with the same name,
 * message and code fields, and no stack or cause. A non-error value is returned as it is.
 */
export function withoutStack(value: unknown): unknown {
  if (!isErrorObject(value)) return value;
  const copy = new Error(thrownMessage(value)) as Error & Record<string, unknown>;
  Object.defineProperty(copy, 'stack', { value: undefined, enumerable: false });
  copy.name = thrownString(value, 'name') ?? 'Error';
  for (const key of ['code', 'errno', 'syscall', 'address', 'port', 'severity']) {
    const field = thrownField(value, key);
    if (typeof field === 'string' || typeof field === 'number') copy[key] = field;
  }
  return copy;
}
