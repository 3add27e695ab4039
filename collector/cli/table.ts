export interface Column {
  header: string;
  align: 'left' | 'right';
}

/**
 * The seed's ASCII table (Gloo's `loopctl list`): `+`/`-`/`|` borders, one space of padding, each column
 * as wide as its widest cell, headers aligned like their column. An empty table still has its header
 * and both rules.
 */
export function renderTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[]): string =>
    `|${columns
      .map((c, i) => {
        const cell = cells[i] ?? '';
        return ` ${c.align === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)} `;
      })
      .join('|')}|`;
  return [rule, line(columns.map((c) => c.header)), rule, ...rows.map(line), rule].join('\n') + '\n';
}
