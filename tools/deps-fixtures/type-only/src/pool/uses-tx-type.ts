import type { Outcome } from '../tx/outcome.js';

export const committed = (outcome: Outcome): boolean => outcome.committed;
