import type { Library } from '../libraries/types.js';
import { INSERT_LEDGER, SELECT_ONE, UPDATE_BALANCE } from '../sql.js';
import type { WorkloadResult } from '../workloads/types.js';
import { medianOf, pairedRatio } from './aggregate.js';
import { cell, formatNumber, formatRatio } from './format.js';
import type { RunInfo } from './run-info.js';
import type { TargetRow } from './targets.js';

/** The table of one workload: a row per library, each metric's median and, where it has one, its ratio to the floor. */
export function workloadTable(result: WorkloadResult, libraries: readonly Library[]): string {
  const floorName = libraries.find((l) => l.floor)?.name;
  const head = ['library'];
  for (const m of result.metrics) {
    head.push(m.label);
    if (m.ratio) head.push('× floor');
  }
  head.push(...(result.textColumns ?? []));
  // Figures right-aligned; the library and the text columns left-aligned.
  const numeric = head.length - (result.textColumns?.length ?? 0);
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 || i >= numeric ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const library of libraries) {
    const rounds = result.rounds.get(library.name);
    const row = [cell(library.name)];
    for (const m of result.metrics) {
      row.push(formatNumber(medianOf(rounds, m.key), m.digits));
      if (m.ratio) {
        const ratio =
          floorName === undefined ? Number.NaN : pairedRatio(result, library.name, floorName, m.key);
        row.push(library.floor ? '1.00×' : formatRatio(ratio));
      }
    }
    const text = result.text?.get(library.name);
    for (const column of result.textColumns ?? []) row.push(cell(text?.[column] ?? '—'));
    lines.push(`| ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The whole results document. */
export function resultsMarkdown(
  info: RunInfo,
  results: readonly WorkloadResult[],
  libraries: readonly Library[],
  targets: readonly TargetRow[],
  chartLink: string | undefined,
): string {
  const s = info.settings;
  const out: string[] = [];
  out.push('# pg-scope benchmarks', '');
  out.push(
    'pg-scope and the libraries people pick instead, measured side by side in one run against the same ' +
      'PostgreSQL, with identical parameterised SQL. Made by ' +
      (s.quick ? '`npm run bench -- --quick` (quick mode: the figures mean little).' : '`npm run bench`.'),
    '',
  );
  out.push(
    `- **Machine**: ${info.cpuModel}, ${info.cpuCount} cores; Node ${info.node}; PostgreSQL ${info.postgres} ` +
      `(${info.serverSource}, on the same machine, over loopback TCP); ${info.date}; the run took ` +
      `${Math.round(info.seconds)} s.`,
    `- **Libraries**: pg-scope (${info.pgScopeSource}), ${Object.entries(info.versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ')}.`,
    `- **Method**: each figure is the median over ${s.rounds} interleaved rounds (${s.exhaustionRounds} for ` +
      '`exhaustion`): every library runs once per round, in an order rotated from round to round, all pools ' +
      'open and warmed up before the first round. Before each measurement the process collects its garbage ' +
      'and then runs the library unmeasured for up to 300 ms (a quarter of the burst for `oversubscribed`), ' +
      'so the window pays neither for the previous library nor for compiling again the code the collection ' +
      'threw away. "× floor" is the median of the per-round ratios to the bare ' +
      'pre-connected `pg.Client` measured in the same round. CPU per operation is the user + system time of ' +
      'the benchmark process (`process.cpuUsage`; the server and the delay proxy run in other processes) ' +
      "divided by the operations: the library's own client-side cost, steadier than throughput on a shared " +
      'machine. Latencies are per operation, in ms.',
    '- **Pools**: size 10 and an idle timeout of 10 minutes everywhere (no connection closes between rounds); ' +
      "otherwise each library's defaults.",
    '',
  );
  if (chartLink) out.push(`![Ratios to the bare-client floor](${chartLink})`, '');
  out.push('## Targets', '', '| target | measured | met |', '| --- | --- | :---: |');
  for (const t of targets) {
    out.push(
      `| ${cell(t.target)} | ${cell(t.measured)} | ${t.met === undefined ? '—' : t.met ? 'yes' : '**no**'} |`,
    );
  }
  out.push('');
  out.push('## Workloads', '');
  for (const result of results) {
    out.push(
      `### \`${result.id}\`: ${result.title}`,
      '',
      result.description,
      '',
      workloadTable(result, libraries),
      '',
    );
  }
  out.push(
    '## Reading the figures',
    '',
    '- The floor is not a pool. In `transfer-conc` it runs one server connection per worker (32) against the ' +
      "pools' 10, and 32 backends contend more for the cores, so a pool can pass 1.00× there.",
    '- postgres.js prepares named statements by default: after the first use it sends only Bind/Execute (see ' +
      'the messages and bytes in the wire counts), and the server skips parsing and planning. pg-scope and the ' +
      "pg-based libraries send unnamed statements, which work behind PgBouncer's transaction mode (pg-scope " +
      'creates no named statement unless the caller names one or sets `prepare: true`). `pg-scope (prepare: ' +
      'true)` caches named statements per connection as postgres.js does; pg still sends a Describe with each ' +
      'Bind, one message more per statement than postgres.js.',
    '- Slonik resets every released connection with `DISCARD ALL`: one more round trip per transaction.',
    '- postgres.js and Slonik have no acquire timeout of their own, so the exhaustion workload sees no error ' +
      'from them before it stops observing.',
    '- CPU per transfer through the delay proxy includes waking up for every answer; compare libraries on the ' +
      '`transfer-seq` figure.',
    '',
  );
  out.push('## How each library is used', '');
  for (const library of libraries) out.push(`- **${library.name}**: ${library.usage}.`);
  out.push('', 'The statements, sent by every library with bound parameters:', '', '```sql');
  out.push(SELECT_ONE, UPDATE_BALANCE, INSERT_LEDGER, '```', '');
  return out.join('\n');
}
