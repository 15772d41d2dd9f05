import type { Transaction } from '../tx/transaction.js';
import type { Connection } from './connection.js';

/** The scope the current async context runs in, for this pool. */
export type AmbientScope = Transaction | Connection;
