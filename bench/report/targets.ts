import { floor } from '../libraries/floor.js';
import { genericPool } from '../libraries/generic-pool.js';
import { pgPool } from '../libraries/pg-pool.js';
import { pgScope, pgScopePrepared } from '../libraries/pg-scope.js';
import { postgresJs, postgresJsUnprepared } from '../libraries/postgres-js.js';
import type { Library } from '../libraries/types.js';
import { STATEMENTS_PER_TRANSFER } from '../sql.js';
import type { WorkloadResult } from '../workloads/types.js';
import { medianOf, pairedRatio } from './aggregate.js';
import { formatNumber, formatRatio } from './format.js';

/** One target and how the run did. */
export interface TargetRow {
  readonly target: string;
  readonly measured: string;
  /** `undefined` when the run did not measure it (a workload or library was left out). */
  readonly met: boolean | undefined;
}

interface Best {
  readonly name: string;
  readonly value: number;
}

/** pg-scope itself, in either of its contenders: never a peer. */
function isOurs(library: Library): boolean {
  return library.name === pgScope.name || library.name === pgScopePrepared.name;
}

/** The best peer (not the floor, not pg-scope) by the median of `key`. */
function bestPeer(
  result: WorkloadResult,
  libraries: readonly Library[],
  key: string,
  better: 'higher' | 'lower',
  among?: readonly string[],
) {
  let best: Best | undefined;
  for (const library of libraries) {
    if (library.floor || library.optIn || isOurs(library)) continue;
    if (among && !among.includes(library.name)) continue;
    const value = medianOf(result.rounds.get(library.name), key);
    if (Number.isNaN(value)) continue;
    if (!best || (better === 'higher' ? value > best.value : value < best.value))
      best = { name: library.name, value };
  }
  return best;
}

/**
 * The like-for-like peers of the engine targets: pools that send unnamed statements, as pg-scope does by
 * default (so they work behind any PgBouncer).
 */
const LIKE_FOR_LIKE = [pgPool.name, genericPool.name, postgresJsUnprepared.name];

function peers(libraries: readonly Library[]): Library[] {
  return libraries.filter((l) => !l.floor && !l.optIn && !isOurs(l));
}

/** Evaluates the targets on what the run measured. */
export function evaluateTargets(
  results: readonly WorkloadResult[],
  libraries: readonly Library[],
): TargetRow[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  const rows: TargetRow[] = [];
  const has = (name: string) => libraries.some((l) => l.name === name);
  const unmeasured = (target: string): TargetRow => ({
    target,
    measured: 'not measured in this run',
    met: undefined,
  });
  const k = STATEMENTS_PER_TRANSFER;

  const delayed = byId.get('transfer-seq-delayed');
  {
    const target = `Round trips per transfer of k = ${k}: pg-scope k + 1 = ${k + 1}, every peer k + 2 or more`;
    if (!delayed || !has(pgScope.name)) rows.push(unmeasured(target));
    else {
      const ours = medianOf(delayed.rounds.get(pgScope.name), 'roundTrips');
      const theirs = peers(libraries).map((l) => ({
        name: l.name,
        value: medianOf(delayed.rounds.get(l.name), 'roundTrips'),
      }));
      const fewest = Math.min(...theirs.map((t) => t.value));
      rows.push({
        target,
        measured:
          `pg-scope ${formatNumber(ours, 2)}; peers ` +
          theirs.map((t) => `${t.name} ${formatNumber(t.value, 2)}`).join(', '),
        met: Math.round(ours) <= k + 1 && fewest > ours,
      });
    }
  }
  {
    const target =
      'Through the delay proxy, `transfer-seq` beats every peer by the saved round trip (≈ 20% at k = 3; ' +
      'met when pg-scope is ahead of the best peer by at least ¾ of one round trip)';
    const best = delayed && bestPeer(delayed, libraries, 'msPerOp', 'lower');
    if (!delayed || !best || !has(pgScope.name)) rows.push(unmeasured(target));
    else {
      const ours = medianOf(delayed.rounds.get(pgScope.name), 'msPerOp');
      // One round trip, as the floor sees it: its time per transfer over its round trips per transfer.
      const floorRounds = delayed.rounds.get(floor.name);
      const roundTrip = medianOf(floorRounds, 'msPerOp') / medianOf(floorRounds, 'roundTrips');
      const vsPool = has(pgPool.name)
        ? pairedRatio(delayed, pgScope.name, pgPool.name, 'msPerOp')
        : Number.NaN;
      rows.push({
        target,
        measured:
          `pg-scope ${formatNumber(ours, 2)} ms per transfer, best peer ${best.name} ${formatNumber(best.value, 2)} ms: ` +
          `${formatNumber((1 - ours / best.value) * 100, 1)}% less time, ${formatNumber(best.value - ours, 2)} ms ` +
          `saved (one round trip ≈ ${formatNumber(roundTrip, 2)} ms here)` +
          (Number.isNaN(vsPool)
            ? ''
            : `; vs pg.Pool by hand ${formatNumber((1 - vsPool) * 100, 1)}% less (paired)`),
        met: best.value - ours >= 0.75 * roundTrip,
      });
    }
  }
  const seq = byId.get('transfer-seq');
  {
    const target = 'CPU per sequential transfer ≤ 1.03× hand-written pg.Pool (logging at `warn`)';
    if (!seq || !has(pgScope.name) || !has(pgPool.name)) rows.push(unmeasured(target));
    else {
      const ratio = pairedRatio(seq, pgScope.name, pgPool.name, 'cpuPerOp');
      rows.push({
        target,
        measured:
          `${formatRatio(ratio)} (median of per-round ratios; pg-scope ` +
          `${formatNumber(medianOf(seq.rounds.get(pgScope.name), 'cpuPerOp'), 0)} µs, pg.Pool ` +
          `${formatNumber(medianOf(seq.rounds.get(pgPool.name), 'cpuPerOp'), 0)} µs, floor ` +
          `${formatNumber(medianOf(seq.rounds.get(floor.name), 'cpuPerOp'), 0)} µs)`,
        met: ratio <= 1.03,
      });
    }
  }
  const conc = byId.get('transfer-conc');
  {
    const target = '`transfer-conc` throughput ≥ the best peer';
    const best = conc && bestPeer(conc, libraries, 'throughput', 'higher');
    if (!conc || !best || !has(pgScope.name)) rows.push(unmeasured(target));
    else {
      const ours = medianOf(conc.rounds.get(pgScope.name), 'throughput');
      rows.push({
        target,
        measured:
          `pg-scope ${formatNumber(ours, 0)} ops/s, best peer ${best.name} ${formatNumber(best.value, 0)} ops/s ` +
          `(${formatRatio(ours / best.value)}; paired vs ${best.name} ` +
          `${formatRatio(pairedRatio(conc, pgScope.name, best.name, 'throughput'))})`,
        met: ours >= best.value,
      });
    }
  }
  const over = byId.get('oversubscribed');
  {
    const target = '`oversubscribed` wall time ≤ the best peer';
    const best = over && bestPeer(over, libraries, 'wall', 'lower');
    if (!over || !best || !has(pgScope.name)) rows.push(unmeasured(target));
    else {
      const ours = medianOf(over.rounds.get(pgScope.name), 'wall');
      rows.push({
        target,
        measured:
          `pg-scope ${formatNumber(ours, 0)} ms, best peer ${best.name} ${formatNumber(best.value, 0)} ms ` +
          `(${formatRatio(ours / best.value)}; paired vs ${best.name} ` +
          `${formatRatio(pairedRatio(over, pgScope.name, best.name, 'wall'))})`,
        met: ours <= best.value,
      });
    }
  }
  {
    const target = '`transfer-conc` client CPU per transaction ≤ 1.00× hand-written pg.Pool';
    if (!conc || !has(pgScope.name) || !has(pgPool.name)) rows.push(unmeasured(target));
    else {
      const ratio = pairedRatio(conc, pgScope.name, pgPool.name, 'cpuPerOp');
      rows.push({
        target,
        measured:
          `${formatRatio(ratio)} (median of per-round ratios; pg-scope ` +
          `${formatNumber(medianOf(conc.rounds.get(pgScope.name), 'cpuPerOp'), 0)} µs, pg.Pool ` +
          `${formatNumber(medianOf(conc.rounds.get(pgPool.name), 'cpuPerOp'), 0)} µs)`,
        met: ratio <= 1.0,
      });
    }
  }
  for (const [result, id, key, better, unit] of [
    [conc, 'transfer-conc', 'throughput', 'higher', 'ops/s'],
    [over, 'oversubscribed', 'wall', 'lower', 'ms'],
  ] as const) {
    const what = key === 'throughput' ? 'throughput ≥' : 'wall time ≤';
    const target = `\`${id}\` ${what} the best of ${LIKE_FOR_LIKE.join(', ')}`;
    const best = result && bestPeer(result, libraries, key, better, LIKE_FOR_LIKE);
    if (!result || !best || !has(pgScope.name)) rows.push(unmeasured(target));
    else {
      const ours = medianOf(result.rounds.get(pgScope.name), key);
      rows.push({
        target,
        measured:
          `pg-scope ${formatNumber(ours, 0)} ${unit}, best of them ${best.name} ${formatNumber(best.value, 0)} ` +
          `${unit} (${formatRatio(ours / best.value)}; paired ` +
          `${formatRatio(pairedRatio(result, pgScope.name, best.name, key))})`,
        met: better === 'higher' ? ours >= best.value : ours <= best.value,
      });
    }
  }
  rows.push(...preparedTargets(byId, has));
  const exhausted = byId.get('exhaustion');
  {
    const target = '`exhaustion`: `PoolExhaustedError` within 100 ms + 5 ms, stats in the message';
    const rounds = exhausted?.rounds.get(pgScope.name);
    const text = exhausted?.text?.get(pgScope.name);
    if (!exhausted || !rounds || rounds.length === 0 || !text) rows.push(unmeasured(target));
    else {
      const times = rounds.map((f) => f.timeToError ?? Number.NaN);
      const worst = Math.max(...times);
      const typical = medianOf(rounds, 'timeToError');
      const statsInMessage = /\d+\/\d+ connections in use, \d+ waiting/.test(text.message ?? '');
      rows.push({
        target,
        measured:
          `${text['error class']} after ${formatNumber(typical, 1)} ms (median; worst ` +
          `${formatNumber(worst, 1)} ms): "${text.message}"`,
        met: text['error class'] === 'PoolExhaustedError' && typical <= 105 && statsInMessage,
      });
    }
  }
  return rows;
}

/**
 * The `prepare: true` contender against postgres.js with its defaults (which prepares too): throughput and
 * wall time as ratios of the same run (paired per round), and what a warm transfer sends.
 */
function preparedTargets(
  byId: ReadonlyMap<string, WorkloadResult>,
  has: (name: string) => boolean,
): TargetRow[] {
  const ours = pgScopePrepared.name;
  const theirs = postgresJs.name;
  const rows: TargetRow[] = [];
  const both = has(ours) && has(theirs);
  const unmeasured = (target: string): TargetRow => ({
    target,
    measured: 'not measured in this run',
    met: undefined,
  });
  for (const [id, key, bound, better] of [
    ['transfer-conc', 'throughput', 1.05, 'higher'],
    ['oversubscribed', 'wall', 0.95, 'lower'],
  ] as const) {
    const what = key === 'throughput' ? `throughput ≥ ${bound}×` : `wall time ≤ ${bound}×`;
    const target = `\`${id}\` ${what} ${theirs}, for ${ours}`;
    const result = byId.get(id);
    if (!result || !both) {
      rows.push(unmeasured(target));
      continue;
    }
    const ratio = pairedRatio(result, ours, theirs, key);
    rows.push({
      target,
      measured:
        `${formatRatio(ratio)} (median of per-round ratios; ${ours} ` +
        `${formatNumber(medianOf(result.rounds.get(ours), key), 0)}, ${theirs} ` +
        `${formatNumber(medianOf(result.rounds.get(theirs), key), 0)})`,
      met: better === 'higher' ? ratio >= bound : ratio <= bound,
    });
  }
  const delayed = byId.get('transfer-seq-delayed');
  const k = STATEMENTS_PER_TRANSFER;
  const target = `Warm transfer with ${ours}: 0 Parse messages and k + 1 = ${k + 1} round trips`;
  if (!delayed || !has(ours)) rows.push(unmeasured(target));
  else {
    const parses = medianOf(delayed.rounds.get(ours), 'parseMessages');
    const trips = medianOf(delayed.rounds.get(ours), 'roundTrips');
    rows.push({
      target,
      measured: `${formatNumber(parses, 2)} Parse messages, ${formatNumber(trips, 2)} round trips per transfer`,
      met: parses === 0 && Math.abs(trips - (k + 1)) < 0.05,
    });
  }
  return rows;
}
