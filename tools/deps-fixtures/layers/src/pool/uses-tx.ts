import { begin } from '../tx/transaction.js';

export const first = begin;
