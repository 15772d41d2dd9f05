import { describe, expect, it } from 'vitest';
import { ScopeClosedError } from '../errors.js';
import { TxStateMachine } from './transaction-state.js';

describe('TxStateMachine: one state, named transitions, one guard', () => {
  it('starts active and lets every use through', () => {
    const sm = new TxStateMachine();
    expect(sm.state).toBe('active');
    expect(() => sm.guard('query')).not.toThrow();
  });

  it.each([
    ['commit', 'committed'],
    ['rollBack', 'rolledBack'],
    ['fail', 'failed'],
  ] as const)('%s() ends it as %s, and the guard then names that state', (move, state) => {
    const sm = new TxStateMachine();
    sm[move]();
    expect(sm.state).toBe(state);
    expect(sm.active).toBe(false);
    expect(() => sm.guard('commit')).toThrow(ScopeClosedError);
    expect(() => sm.guard('commit')).toThrow(`cannot commit: transaction is ${state}`);
  });

  it('an ended transaction keeps its outcome; only a failed ROLLBACK turns rolledBack into failed', () => {
    const committed = new TxStateMachine();
    committed.commit();
    committed.rollBack();
    committed.fail();
    expect(committed.state).toBe('committed');

    const failed = new TxStateMachine();
    failed.fail();
    failed.commit();
    failed.rollBack();
    expect(failed.state).toBe('failed');

    const rolledBack = new TxStateMachine();
    rolledBack.rollBack();
    rolledBack.commit();
    expect(rolledBack.state).toBe('rolledBack');
    rolledBack.fail();
    expect(rolledBack.state).toBe('failed');
  });

  it('a rollback with an enclosing scope says so in the guard’s message', () => {
    const sm = new TxStateMachine();
    sm.rollBack('rolled back with the transaction');
    expect(() => sm.guard('query')).toThrow(
      'cannot query: transaction is rolledBack (rolled back with the transaction)',
    );
  });

  it('abort: still active, but the guard throws the abort’s own error; once, and not after the end', () => {
    const sm = new TxStateMachine();
    const timeout = new Error('deadline');
    sm.abort(timeout);
    sm.abort(new Error('second'));
    expect(sm.state).toBe('active');
    expect(sm.aborted).toBe(true);
    expect(() => sm.guard('query')).toThrow(timeout);
    sm.rollBack();
    expect(() => sm.guard('query')).toThrow(timeout);

    const ended = new TxStateMachine();
    ended.commit();
    ended.abort(timeout);
    expect(ended.aborted).toBe(false);
  });

  it('rollback-only keeps the first joined failure and does not end the transaction', () => {
    const sm = new TxStateMachine();
    const first = new Error('first');
    sm.markRollbackOnly(first);
    sm.markRollbackOnly(new Error('second'));
    expect(sm.rollbackOnly).toBe(true);
    expect(sm.rollbackOnlyCause).toBe(first);
    expect(sm.state).toBe('active');
    expect(() => sm.guard('query')).not.toThrow();
  });
});
