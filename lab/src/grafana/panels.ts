/**
 * What each panel type needs from the frames of its query, as Grafana's panel code reads
 * them (public/app/plugins/panel/{table,timeseries,stat,nodeGraph}), and whether the panel's
 * own settings find the fields they name. Every rule returns problems as text (empty = fits):
 *  - every frame: fields of equal length;
 *  - table: fields; transformations (organize, groupBy, filterByValue) and field overrides
 *    match fields by display name, so each name they use must exist at that step, or the
 *    setting silently does nothing;
 *  - timeseries: a time field (ascending) and numeric fields; series distinguishable (their
 *    display names, or labels, differ) and labelled with every split dimension;
 *  - stat: a numeric field its reduce options select (a regex on the display name), holding
 *    numbers the calculation can reduce;
 *  - nodeGraph: a nodes frame (no `source` field) with id, title, mainstat and an edges
 *    frame with id, source, target; ids unique; every edge's ends among the nodes (the
 *    panel dereferences them); main and secondary stats as text (a number is printed as
 *    value.toFixed(2) + ' ' + unit); arc__ fields numbers adding up to 1 per node.
 */
import type { FrameJson } from '../e2e/plugin-backend';
import { labelString } from './expressions';
import type { Json } from './template';

const displayName = (f: FrameJson['schema']['fields'][number]) => f.config?.displayName ?? f.name;
const column = (frame: FrameJson, i: number): unknown[] => frame.data.values[i] ?? [];
const fieldIndex = (frame: FrameJson, name: string) => frame.schema.fields.findIndex((f) => f.name === name);

function equalLengths(frame: FrameJson): string[] {
  const lengths = new Set(frame.schema.fields.map((_, i) => column(frame, i).length));
  return lengths.size > 1 ? [`frame ${frame.schema.name ?? ''} has fields of different lengths (${[...lengths].join(', ')})`] : [];
}

/** Field names after each transformation, checking the names each one uses. */
function tableNames(panel: Json, frame: FrameJson): { names: string[]; problems: string[] } {
  let names = frame.schema.fields.map(displayName);
  const problems: string[] = [];
  const need = (what: string, list: string[]) => {
    for (const n of list) if (!names.includes(n)) problems.push(`${what} names field "${n}", which the frame does not have (fields: ${names.join(', ')})`);
  };
  for (const t of (panel.transformations ?? []) as Json[]) {
    const options = (t.options ?? {}) as Json;
    switch (t.id) {
      case 'organize': {
        const excluded = Object.keys(options.excludeByName ?? {});
        const renamed = (options.renameByName ?? {}) as Record<string, string>;
        need('organize (exclude)', excluded);
        need('organize (order)', Object.keys(options.indexByName ?? {}));
        need('organize (rename)', Object.keys(renamed));
        names = names.filter((n) => !excluded.includes(n)).map((n) => renamed[n] ?? n);
        break;
      }
      case 'groupBy': {
        const fields = (options.fields ?? {}) as Record<string, { operation?: string; aggregations?: string[] }>;
        need('groupBy', Object.keys(fields));
        const grouped = Object.entries(fields).filter(([, f]) => f.operation === 'groupby').map(([n]) => n);
        const aggregated = Object.entries(fields)
          .filter(([, f]) => f.operation === 'aggregate')
          .flatMap(([n, f]) => (f.aggregations ?? []).map((a) => `${n} (${a})`));
        names = [...grouped, ...aggregated];
        break;
      }
      case 'filterByValue':
        need('filterByValue', ((options.filters ?? []) as Json[]).map((f) => String(f.fieldName)));
        break;
      default:
        problems.push(`transformation ${String(t.id)} is not emulated here`);
    }
  }
  return { names, problems };
}

function overrideNames(panel: Json): string[] {
  return ((panel.fieldConfig?.overrides ?? []) as Json[])
    .filter((o) => o.matcher?.id === 'byName')
    .map((o) => String(o.matcher.options));
}

function table(panel: Json, frames: FrameJson[]): string[] {
  const frame = frames.find((f) => f.schema.fields.length > 0);
  if (!frame) return ['no frame with fields for the table'];
  const { names, problems } = tableNames(panel, frame);
  for (const n of overrideNames(panel)) {
    if (!names.includes(n)) problems.push(`override for "${n}" matches no field (fields: ${names.join(', ')})`);
  }
  return problems;
}

function timeseries(panel: Json, frames: FrameJson[]): string[] {
  const problems: string[] = [];
  const split = ((panel.targets?.[0]?.splitBy ?? []) as string[]).filter((d) => d !== '');
  const seen = new Set<string>();
  for (const frame of frames.filter((f) => f.schema.fields.length > 0)) {
    const time = frame.schema.fields.findIndex((f) => f.type === 'time');
    const numbers = frame.schema.fields.filter((f) => f.type === 'number');
    if (time < 0) problems.push(`frame ${frame.schema.name ?? ''} has no time field`);
    if (numbers.length === 0) problems.push(`frame ${frame.schema.name ?? ''} has no numeric field`);
    const times = time < 0 ? [] : (column(frame, time) as number[]);
    if (times.some((t, i) => i > 0 && t < times[i - 1])) problems.push(`frame ${frame.schema.name ?? ''}: time is not ascending`);
    for (const f of numbers) {
      const missing = split.filter((d) => f.labels?.[d] === undefined);
      if (missing.length > 0) problems.push(`series ${f.name} ${labelString(f.labels ?? {})} lacks the label(s) ${missing.join(', ')} it is split by`);
      const identity = f.config?.displayNameFromDS ?? `${f.name} ${labelString(f.labels ?? {})}`;
      if (seen.has(identity)) problems.push(`two series are both shown as "${identity}"`);
      seen.add(identity);
    }
  }
  return problems;
}

function stat(panel: Json, frames: FrameJson[]): string[] {
  const pattern = panel.options?.reduceOptions?.fields as string | undefined;
  const regex = pattern ? new RegExp(pattern.replace(/^\/(.*)\/$/, '$1')) : null;
  const numeric = frames.flatMap((frame) =>
    frame.schema.fields.flatMap((f, i) => (f.type === 'number' && (!regex || regex.test(displayName(f))) ? [column(frame, i)] : [])),
  );
  if (numeric.length === 0) return [`no numeric field${pattern ? ` matching ${pattern}` : ''} to reduce`];
  const bad = numeric.flat().filter((v) => v !== null && (typeof v !== 'number' || !Number.isFinite(v)));
  return bad.length > 0 ? [`values that cannot be reduced: ${bad.slice(0, 3).join(', ')}`] : [];
}

function nodeGraph(frames: FrameJson[]): string[] {
  const graph = frames.filter((f) => f.schema.meta?.preferredVisualisationType === 'nodeGraph' || f.schema.name === 'nodes' || f.schema.name === 'edges');
  const edges = graph.find((f) => fieldIndex(f, 'source') >= 0);
  const nodes = graph.find((f) => fieldIndex(f, 'source') < 0);
  if (!nodes || !edges) return [`node graph needs a nodes and an edges frame (got ${frames.map((f) => f.schema.name).join(', ')})`];
  const problems: string[] = [];
  const require = (frame: FrameJson, what: string, names: string[]) => {
    for (const n of names) if (fieldIndex(frame, n) < 0) problems.push(`${what} frame has no ${n} field`);
  };
  require(nodes, 'nodes', ['id', 'title', 'mainstat']);
  require(edges, 'edges', ['id', 'source', 'target']);
  if (problems.length > 0) return problems;
  const ids = column(nodes, fieldIndex(nodes, 'id')).map(String);
  const edgeIds = column(edges, fieldIndex(edges, 'id')).map(String);
  if (new Set(ids).size !== ids.length) problems.push('node ids repeat');
  if (new Set(edgeIds).size !== edgeIds.length) problems.push('edge ids repeat');
  for (const end of ['source', 'target']) {
    for (const id of column(edges, fieldIndex(edges, end)).map(String)) {
      if (!ids.includes(id)) problems.push(`an edge's ${end} "${id}" is not a node`);
    }
  }
  for (const frame of [nodes, edges]) {
    for (const stat of ['mainstat', 'secondarystat']) {
      const i = fieldIndex(frame, stat);
      if (i >= 0 && frame.schema.fields[i].type !== 'string') {
        problems.push(`${frame.schema.name ?? ''} ${stat} is ${frame.schema.fields[i].type}: the panel prints it as value.toFixed(2) + unit`);
      }
    }
  }
  const arcs = nodes.schema.fields.flatMap((f, i) => (f.name.startsWith('arc__') ? [i] : []));
  for (let row = 0; row < ids.length && arcs.length > 0; row++) {
    const sum = arcs.reduce((acc, i) => acc + Number(column(nodes, i)[row]), 0);
    if (Math.abs(sum - 1) > 1e-6 && sum !== 0) problems.push(`node ${ids[row]}: arcs add up to ${sum}, not 1`);
  }
  return problems;
}

/** Problems of `frames` on `panel` (its type decides the rules). */
export function panelFit(panel: Json, frames: FrameJson[]): string[] {
  const problems = frames.flatMap(equalLengths);
  switch (panel.type) {
    case 'table':
      return [...problems, ...table(panel, frames)];
    case 'timeseries':
      return [...problems, ...timeseries(panel, frames)];
    case 'stat':
      return [...problems, ...stat(panel, frames)];
    case 'nodeGraph':
      return [...problems, ...nodeGraph(frames)];
    default:
      return [...problems, `panel type ${String(panel.type)} is not emulated here`];
  }
}

/**
 * True when the answer shows nothing: no frame with rows, or (time series, stats) only
 * zeros. A node graph is empty without edges.
 */
export function isEmpty(panel: Json, frames: FrameJson[]): boolean {
  const withRows = frames.filter((f) => f.schema.fields.length > 0 && column(f, 0).length > 0);
  if (withRows.length === 0) return true;
  if (panel.type === 'nodeGraph') return !withRows.some((f) => fieldIndex(f, 'source') >= 0);
  if (panel.type === 'timeseries' || (panel.type === 'stat' && panel.targets?.[0]?.queryType === 'timeseries')) {
    return withRows.every((f) => f.schema.fields.every((field, i) => field.type !== 'number' || column(f, i).every((v) => !v)));
  }
  return false;
}
