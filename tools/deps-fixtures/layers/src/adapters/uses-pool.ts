import { first } from '../pool/uses-tx.js';

export const adapterFirst = first;
