import type { Library } from '../libraries/types.js';
import type { WorkloadResult } from '../workloads/types.js';
import { pairedRatio } from './aggregate.js';
import type { RunInfo } from './run-info.js';

/** One panel of the chart: a ratio to the floor per library. */
interface Panel {
  readonly title: string;
  readonly better: 'higher' | 'lower';
  readonly bars: ReadonlyArray<{ readonly name: string; readonly value: number; readonly ours: boolean }>;
}

const PANEL_WIDTH = 440;
const LABEL_WIDTH = 130;
const VALUE_WIDTH = 50;
const BAR_HEIGHT = 18;
const BAR_GAP = 6;
const PANEL_HEAD = 44;
const COLUMNS = 2;

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

function panelHeight(panel: Panel): number {
  return PANEL_HEAD + panel.bars.length * (BAR_HEIGHT + BAR_GAP) + 16;
}

function drawPanel(panel: Panel, x: number, y: number): string {
  const finite = panel.bars.map((b) => b.value).filter(Number.isFinite);
  const scaleMax = Math.max(1.2, ...finite) * 1.08;
  const barArea = PANEL_WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
  const px = (v: number) => (v / scaleMax) * barArea;
  const parts: string[] = [];
  parts.push(
    `<text x="${x}" y="${y + 16}" class="title">${escapeXml(panel.title)}</text>`,
    `<text x="${x}" y="${y + 32}" class="note">× floor, ${panel.better} is better</text>`,
  );
  const top = y + PANEL_HEAD;
  panel.bars.forEach((bar, i) => {
    const by = top + i * (BAR_HEIGHT + BAR_GAP);
    parts.push(
      `<text x="${x + LABEL_WIDTH - 8}" y="${by + BAR_HEIGHT - 5}" class="label" text-anchor="end">${escapeXml(bar.name)}</text>`,
    );
    if (Number.isFinite(bar.value)) {
      parts.push(
        `<rect x="${x + LABEL_WIDTH}" y="${by}" width="${px(bar.value).toFixed(1)}" height="${BAR_HEIGHT}" class="${bar.ours ? 'ours' : 'peer'}"/>`,
        `<text x="${x + LABEL_WIDTH + px(bar.value) + 6}" y="${by + BAR_HEIGHT - 5}" class="value">${bar.value.toFixed(2)}×</text>`,
      );
    } else {
      parts.push(
        `<text x="${x + LABEL_WIDTH + 6}" y="${by + BAR_HEIGHT - 5}" class="value">not measured</text>`,
      );
    }
  });
  const oneX = x + LABEL_WIDTH + px(1);
  const bottom = top + panel.bars.length * (BAR_HEIGHT + BAR_GAP);
  parts.push(
    `<line x1="${oneX.toFixed(1)}" y1="${top - 4}" x2="${oneX.toFixed(1)}" y2="${bottom}" class="floor"/>`,
    `<text x="${oneX.toFixed(1)}" y="${bottom + 12}" class="note" text-anchor="middle">floor 1.00</text>`,
  );
  return parts.join('\n');
}

/** The chart of the main ratios (hand-written SVG, no dependencies): one panel per headline figure. */
export function ratioChart(
  results: readonly WorkloadResult[],
  libraries: readonly Library[],
  info: RunInfo,
): string {
  const floorName = libraries.find((l) => l.floor)?.name;
  const byId = new Map(results.map((r) => [r.id, r]));
  const specs = [
    { id: 'transfer-seq', key: 'cpuPerOp', title: 'CPU per sequential transfer', better: 'lower' },
    {
      id: 'transfer-conc',
      key: 'throughput',
      title: 'transfer-conc throughput (32 workers, pool 10)',
      better: 'higher',
    },
    {
      id: 'oversubscribed',
      key: 'wall',
      title: 'oversubscribed wall time (2,000 callers, pool 10)',
      better: 'lower',
    },
    {
      id: 'transfer-seq-delayed',
      key: 'msPerOp',
      title: `time per transfer through a ${info.settings.delayMillis} ms-each-way delay`,
      better: 'lower',
    },
  ] as const;
  const panels: Panel[] = [];
  for (const spec of specs) {
    const result = byId.get(spec.id);
    if (!result || floorName === undefined) continue;
    panels.push({
      title: spec.title,
      better: spec.better,
      bars: libraries
        .filter((l) => !l.floor)
        .map((l) => ({
          name: l.name,
          value: pairedRatio(result, l.name, floorName, spec.key),
          ours: l.id === 'pg-scope',
        })),
    });
  }
  const rows = Math.ceil(panels.length / COLUMNS);
  const rowHeights = Array.from({ length: rows }, (_, r) =>
    Math.max(0, ...panels.slice(r * COLUMNS, r * COLUMNS + COLUMNS).map(panelHeight)),
  );
  const header = 54;
  const width = COLUMNS * PANEL_WIDTH + 40;
  const height = header + rowHeights.reduce((a, b) => a + b, 0) + 10;
  const body: string[] = [];
  let y = header;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < COLUMNS; c++) {
      const panel = panels[r * COLUMNS + c];
      if (panel) body.push(drawPanel(panel, 20 + c * PANEL_WIDTH, y));
    }
    y += rowHeights[r] as number;
  }
  const subtitle =
    `Ratios to a bare pre-connected pg.Client, medians of ${info.settings.rounds} interleaved rounds · ` +
    `${info.cpuModel} × ${info.cpuCount} · Node ${info.node} · PostgreSQL ${info.postgres} · ${info.date.slice(0, 10)}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    '<style>',
    '.title{font-size:13px;font-weight:600;fill:#111827}',
    '.note{font-size:11px;fill:#6b7280}',
    '.label{font-size:12px;fill:#374151}',
    // A white halo keeps a value readable where it crosses the floor line.
    '.value{font-size:11px;fill:#374151;paint-order:stroke;stroke:#ffffff;stroke-width:3px}',
    '.ours{fill:#2563eb}',
    '.peer{fill:#9ca3af}',
    '.floor{stroke:#111827;stroke-width:1;stroke-dasharray:3 3}',
    '.head{font-size:16px;font-weight:700;fill:#111827}',
    '</style>',
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="20" y="24" class="head">pg-scope and its peers, relative to the bare-client floor</text>`,
    `<text x="20" y="42" class="note">${escapeXml(subtitle)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
