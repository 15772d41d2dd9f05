import type { Logger } from 'pino';
import { NestedAcquireError } from '../errors.js';
import { LogEvent } from '../logging/events.js';
import type { NestedAcquireMode } from './pool-config.js';
import { findFrame } from './scope-context.js';

/**
 * Nested-acquire detection: code that already holds a connection of `pool` (an enclosing callback scope in the
 * current async context) asks for another one, which deadlocks a full pool. `'error'` throws
 * `NestedAcquireError`; `'warn'` logs the inner acquirer's stack and the outer scope's id (and its stack, when
 * leak detection captured it).
 */
export function checkNestedAcquire(
  pool: object,
  mode: NestedAcquireMode,
  log: Logger,
  stack: Error | undefined,
): void {
  const frame = findFrame(pool);
  if (!frame || (frame.holdsConnection && !frame.holdsConnection())) return;
  if (mode === 'error') throw new NestedAcquireError();
  if (mode !== 'warn' || !log.isLevelEnabled('warn')) return;
  const outer = (frame.handle as { scopeId?: unknown }).scopeId;
  log.warn(
    {
      event: LogEvent.nestedAcquire,
      scopeId: typeof outer === 'string' ? outer : undefined,
      stack: (stack ?? new Error('nested acquire here')).stack,
      outerStack: frame.acquiredAt?.stack,
    },
    'nested acquire: this code already holds a connection of the same pool; a full pool can deadlock',
  );
}
