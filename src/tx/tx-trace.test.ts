import { describe, expect, it } from 'vitest';
import { CommitUnknownError } from '../errors.js';
import { outcomeOf } from './tx-trace.js';

describe('outcomeOf: what an attempt ended as', () => {
  it('the state, except that a lost COMMIT is unknown whatever the state says', () => {
    expect(outcomeOf('committed', undefined)).toBe('committed');
    expect(outcomeOf('rolledBack', new Error('x'))).toBe('rolledBack');
    expect(outcomeOf('active', new Error('x'))).toBe('rolledBack');
    expect(outcomeOf('failed', new Error('x'))).toBe('failed');
    const lost = new CommitUnknownError(new Error('reset'));
    expect(outcomeOf('rolledBack', lost)).toBe('unknown');
  });
});
