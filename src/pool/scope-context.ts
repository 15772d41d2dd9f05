import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The scopes the current async context runs inside, innermost first. A callback scope runs its callback
 * inside a frame, so code it calls can find the scope it holds (nested-acquire detection, ambient scopes).
 * Work started outside the callback's async context (a timer set before the scope, an event emitter's
 * listener registered elsewhere) does not see the frame.
 */
export interface ScopeFrame {
  /** The pool the scope belongs to. */
  readonly pool: object;
  /** The handle the callback received (a Connection or a Transaction). */
  readonly handle: object;
  /** True while the scope can still be used (its connection is held, or, for a lazy scope, can be opened). */
  readonly isOpen: () => boolean;
  /** True while the scope holds a connection (default: `isOpen`); a lazy scope holds none until first use. */
  readonly holdsConnection?: () => boolean;
  /** Where the scope's connection was acquired, when stacks are captured. */
  readonly acquiredAt: Error | undefined;
  readonly parent: ScopeFrame | undefined;
  /** `performance.now()` when a write transaction last committed inside this scope (read your writes). */
  wroteAt?: number;
}

const storage = new AsyncLocalStorage<ScopeFrame>();

/** Runs `fn(arg)` inside a new innermost frame (`arg` spares the caller a closure made only to pass it). */
export function runInFrame<T, A = undefined>(
  frame: Omit<ScopeFrame, 'parent'>,
  fn: (arg: A) => T,
  arg?: A,
): T {
  // The frame is a fresh object made by the caller for this scope: link it to the enclosing one in place.
  (frame as { parent?: ScopeFrame | undefined }).parent = storage.getStore();
  return storage.run(frame as ScopeFrame, fn, arg as A);
}

/** The innermost open frame of `pool` in the current async context. */
export function findFrame(pool: object): ScopeFrame | undefined {
  for (let f = storage.getStore(); f; f = f.parent) {
    if (f.pool === pool && f.isOpen()) return f;
  }
  return undefined;
}

/**
 * A write transaction of `pool` committed in the current async context: every enclosing scope of that pool
 * remembers when, so its later read-only scopes go where that commit is visible (see `lastWrite`).
 */
export function noteWrite(pool: object): void {
  const now = performance.now();
  for (let f = storage.getStore(); f; f = f.parent) if (f.pool === pool) f.wroteAt = now;
}

/** When a write of `pool` last committed in an enclosing scope of the current async context, if one did. */
export function lastWrite(pool: object): number | undefined {
  let latest: number | undefined;
  for (let f = storage.getStore(); f; f = f.parent) {
    if (f.pool === pool && f.wroteAt !== undefined && (latest === undefined || f.wroteAt > latest)) {
      latest = f.wroteAt;
    }
  }
  return latest;
}
