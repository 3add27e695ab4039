// What run.mjs writes besides latest.json: the budgets judged, a Markdown table (latest.md) and an
// SVG chart of the throughput ratios (ratios.svg), written by hand: no dependency.
import { BUDGET_SHAPE, BUDGETS, SHAPES, VARIANTS } from './matrix.mjs';

const f = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
const range = (r) => `${f(r.median, 3)} (${f(r.min, 3)}–${f(r.max, 3)})`;

/** The budgets for each framework measured: met true / false, or null when the variant was not run. */
export function judge(rows, bare, frameworks) {
  const out = [];
  for (const framework of frameworks) {
    const base = bare.find((b) => b.framework === framework && b.shape === BUDGET_SHAPE);
    const noisy = base !== undefined && base.noise > 0.1;
    for (const b of BUDGETS) {
      const row = rows.find((r) => r.framework === framework && r.shape === BUDGET_SHAPE && r.variant === b.variant);
      out.push({
        framework,
        variant: b.variant,
        what: `${b.variant} throughput vs bare`,
        measured: row === undefined ? 'not run' : `${range(row.ratio)}x`,
        budget: `>= ${b.ratio}x`,
        met: row === undefined ? null : row.ratio.median >= b.ratio,
        noisy,
        source: b.source,
      });
      if (b.addedP99Ms !== undefined) {
        out.push({
          framework,
          variant: b.variant,
          what: `${b.variant} added p99`,
          measured: row === undefined ? 'not run' : `${f(row.p99Ms.added, 2)} ms`,
          budget: `<= ${b.addedP99Ms} ms`,
          met: row === undefined ? null : row.p99Ms.added <= b.addedP99Ms,
          noisy,
          source: b.source,
        });
      }
    }
  }
  return out;
}

const shapeTitle = (name) => SHAPES.find((s) => s.name === name)?.title ?? name;
const variantTitle = (name) => VARIANTS.find((v) => v.name === name)?.title ?? name;

export function toMarkdown(out) {
  const lines = [];
  lines.push(`# httploop bench results${out.quick ? ' (--quick: a check that the bench runs, not numbers)' : ''}`);
  lines.push('');
  lines.push(
    `${out.date.slice(0, 10)} · ${out.cpuModel ?? 'unknown CPU'} · ${out.cpus} CPUs · ${out.memoryGB} GB · Node ${out.node} · ` +
      `autocannon -c ${out.connections} -p ${out.pipelining} in its own process · ${out.pairs} pairs of ${out.durationSec} s per variant, ` +
      `warm-up ${out.warmupSec} s per server${out.pinned ? ' · servers on core 1, load generator and collector on core 0' : ''} · ` +
      `took ${Math.round(out.elapsedSec / 60)} min · \`${out.command}\``,
  );
  lines.push('');
  lines.push('Ratio: the median of the paired runs B/A (B the variant, A the bare app next to it), with min–max.');
  lines.push('p99 added: the median of the pairs\' p99 differences. CPU: the server\'s user+system time per request.');
  lines.push('');
  if (out.budgets.length > 0) {
    lines.push(`## Budgets (${shapeTitle(out.budgetShape)}; DESIGN.md)`);
    lines.push('');
    lines.push('| framework | what | measured | budget | verdict |');
    lines.push('|---|---|---|---|---|');
    for (const b of out.budgets) {
      const verdict = b.met === null ? 'not measured' : b.met ? 'met' : '**missed**';
      lines.push(`| ${b.framework} | ${b.what} | ${b.measured} | ${b.budget} | ${verdict}${b.noisy ? ' (noisy)' : ''} |`);
    }
    if (out.rules !== undefined) {
      lines.push(`| – | seed rule on a non-matching exchange | ${f(out.rules.seedNs, 1)} ns (ten rules ${f(out.rules.tenNs, 1)} ns) | < ${out.rules.budgetNs} ns | ${out.rules.pass ? 'met' : '**missed**'} |`);
    }
    lines.push('');
  }
  const frameworks = [...new Set(out.scenarios.map((r) => r.framework))];
  for (const framework of frameworks) {
    lines.push(`## ${framework}`);
    lines.push('');
    lines.push('| shape | variant | throughput vs bare | req/s | p50 ms | p99 ms (added) | CPU µs/req | peak RSS MB |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const shape of [...new Set(out.scenarios.filter((r) => r.framework === framework).map((r) => r.shape))]) {
      const b = out.bare.find((x) => x.framework === framework && x.shape === shape);
      if (b !== undefined) {
        lines.push(`| ${shape} | bare | 1 (bare moved ${f(b.noise * 100)} %) | ${f(b.rps)} | ${f(b.p50Ms, 2)} | ${f(b.p99Ms, 2)} | ${f(b.cpuUsPerReq, 1)} | ${f(b.rssPeakMB)} |`);
      }
      for (const r of out.scenarios.filter((x) => x.framework === framework && x.shape === shape)) {
        lines.push(
          `| ${shape} | ${r.variant} | ${range(r.ratio)} | ${f(r.rps.b)} | ${f(r.p50Ms.b, 2)} | ${f(r.p99Ms.b, 2)} (${r.p99Ms.added >= 0 ? '+' : ''}${f(r.p99Ms.added, 2)}) | ` +
            `${f(r.cpuUsPerReq.b, 1)} | ${f(r.rssPeakMB.b)} |`,
        );
      }
    }
    const p = out.peers?.[framework] ?? {};
    const notes = [];
    if (p.otelSpansExported !== undefined) notes.push(`OpenTelemetry exported ${p.otelSpansExported} spans to the no-op exporter`);
    if (p.tuskTraceFiles !== undefined) notes.push(`Tusk Drift wrote ${p.tuskTraceFiles} local trace files`);
    if (notes.length > 0) lines.push('', `${notes.join('; ')}.`);
    lines.push('');
  }
  lines.push('Variants:', '');
  for (const v of VARIANTS) lines.push(`- **${v.name}**: ${v.title}`);
  lines.push('');
  return `${lines.join('\n')}\n`;
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS = { express: '#4c78a8', koa: '#e45756' };

/** One panel per request shape; in each, a row per variant with a bar per framework (median) and a min–max whisker. */
export function toSvg(out) {
  const frameworks = [...new Set(out.scenarios.map((r) => r.framework))];
  const shapes = [...new Set(out.scenarios.map((r) => r.shape))];
  const variants = VARIANTS.map((v) => v.name).filter((n) => out.scenarios.some((r) => r.variant === n));
  const W = 760;
  const left = 110;
  const right = 60;
  const barH = 9;
  const rowH = frameworks.length * barH + 8;
  const panelH = 30 + variants.length * rowH + 24;
  const top = 58;
  const H = top + shapes.length * panelH + 10;
  const maxX = Math.min(2, Math.max(1.2, ...out.scenarios.map((r) => (Number.isFinite(r.ratio.max) ? r.ratio.max : 0))));
  const x = (v) => left + (Math.max(0, Math.min(v, maxX)) / maxX) * (W - left - right);
  const parts = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(
    `<text x="10" y="20" font-size="14" font-weight="bold">Throughput vs bare (median of ${out.pairs} pairs, min–max)${out.quick ? ' — --quick check' : ''}</text>`,
  );
  parts.push(`<text x="10" y="38" fill="#555">${esc(`${out.date.slice(0, 10)} · Node ${out.node} · ${out.cpus} CPUs · ${out.cpuModel ?? ''} · autocannon -c ${out.connections}`)}</text>`);
  frameworks.forEach((fw, i) => {
    parts.push(`<rect x="${W - 200 + i * 90}" y="12" width="12" height="10" fill="${COLORS[fw] ?? '#888'}"/>`);
    parts.push(`<text x="${W - 184 + i * 90}" y="21">${esc(fw)}</text>`);
  });
  shapes.forEach((shape, si) => {
    const y0 = top + si * panelH;
    parts.push(`<text x="10" y="${y0 + 14}" font-weight="bold">${esc(shapeTitle(shape))}</text>`);
    const plotTop = y0 + 22;
    const plotBottom = plotTop + variants.length * rowH;
    for (const tick of [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2].filter((t) => t <= maxX)) {
      parts.push(`<line x1="${x(tick)}" y1="${plotTop}" x2="${x(tick)}" y2="${plotBottom}" stroke="${tick === 1 ? '#333' : '#ddd'}" ${tick === 1 ? 'stroke-dasharray="4 3"' : ''}/>`);
      parts.push(`<text x="${x(tick)}" y="${plotBottom + 12}" text-anchor="middle" fill="#555">${tick}x</text>`);
    }
    variants.forEach((variant, vi) => {
      const ry = plotTop + vi * rowH + 4;
      parts.push(`<text x="${left - 6}" y="${ry + (frameworks.length * barH) / 2 + 4}" text-anchor="end"><title>${esc(variantTitle(variant))}</title>${esc(variant)}</text>`);
      const budget = shape === out.budgetShape ? BUDGETS.find((b) => b.variant === variant) : undefined;
      if (budget !== undefined) {
        parts.push(`<line x1="${x(budget.ratio)}" y1="${ry - 2}" x2="${x(budget.ratio)}" y2="${ry + frameworks.length * barH + 2}" stroke="#2a2" stroke-width="2"><title>budget ${budget.ratio}x</title></line>`);
      }
      frameworks.forEach((fw, fi) => {
        const r = out.scenarios.find((s) => s.framework === fw && s.shape === shape && s.variant === variant);
        if (r === undefined) return;
        const by = ry + fi * barH;
        parts.push(`<rect x="${left}" y="${by}" width="${Math.max(0, x(r.ratio.median) - left)}" height="${barH - 2}" fill="${COLORS[fw] ?? '#888'}"><title>${esc(`${fw} ${variant}: ${range(r.ratio)}`)}</title></rect>`);
        const wy = by + (barH - 2) / 2;
        parts.push(`<line x1="${x(r.ratio.min)}" y1="${wy}" x2="${x(r.ratio.max)}" y2="${wy}" stroke="#222"/>`);
        parts.push(`<text x="${Math.min(W - right + 4, x(r.ratio.max) + 4)}" y="${by + barH - 2}" font-size="9" fill="#222">${f(r.ratio.median, 2)}</text>`);
      });
    });
  });
  parts.push(`<text x="10" y="${H - 2}" font-size="9" fill="#555">green marks: DESIGN.md budgets (small GET); dashed: bare</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
