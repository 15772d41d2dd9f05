import { exhaustion } from './exhaustion.js';
import { oversubscribed } from './oversubscribed.js';
import { select1 } from './select1.js';
import { transferConc } from './transfer-conc.js';
import { transferSeq } from './transfer-seq.js';
import { transferSeqDelayed } from './transfer-seq-delayed.js';
import type { Workload } from './types.js';

/** Every workload, in the order they run and appear in the results. */
export const workloads: readonly Workload[] = [
  select1,
  transferSeq,
  transferConc,
  oversubscribed,
  exhaustion,
  transferSeqDelayed,
];
