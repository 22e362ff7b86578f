/** Plain-text tables for the terminal and the README. */

export function formatTable(title: string, header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => (i === 0 ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') + '|';
  return [`\n### ${title}\n`, line(header), rule, ...cells.slice(1).map(line)].join('\n') + '\n';
}

/** 1234567 -> "1.23 M" style with 3 significant digits. */
export function si(n: number, unit = ''): string {
  if (!Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  const [div, suffix] = abs >= 1e9 ? [1e9, ' G'] : abs >= 1e6 ? [1e6, ' M'] : abs >= 1e3 ? [1e3, ' k'] : [1, ' '];
  return `${(n / div).toPrecision(3)}${suffix}${unit}`.trim();
}

export function mib(bytes: number): string {
  return Number.isFinite(bytes) && bytes > 0 ? `${(bytes / 1048576).toFixed(0)} MiB` : '–';
}

export function ms(x: number): string {
  return Number.isFinite(x) ? `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)} ms` : '–';
}

export function pct(x: number, digits = 2): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : '–';
}

export function ratio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}x` : '–';
}

/** "median (min–max)" of a spread, formatted. */
export function spreadText(s: { median: number; min: number; max: number; runs: number }, format: (n: number) => string): string {
  if (s.runs === 0) return '–';
  if (s.runs === 1) return format(s.median);
  return `${format(s.median)} (${format(s.min)}–${format(s.max)})`;
}
