/** The ingest and agreement tables, and their JSON. Ratios pair run i of one tool with run i of another. */
import { agreement } from './agreement';
import type { CaptureTruth } from './corpus';
import type { IngestResult, ToolResult } from './ingest';
import { spread, type Spread } from './stats';
import { formatTable, mib, pct, ratio, si, spreadText } from './table';

export const READ_ONLY_LIBPCAP = 'libpcap read (Node binding, ceiling)';
export const READ_ONLY = 'flowmesh file reader (read only)';
export const TABLE_ONLY = 'flowmesh decode+flow table';
export const FULL_PATH = 'flowmesh import -> DuckDB';

/** Median over runs of (other's time / flowmesh's time) = flowmesh's speed relative to `other`. */
export function pairedRatio(flowmesh: number[], other: number[]): Spread {
  const n = Math.min(flowmesh.length, other.length);
  if (n === 0) return spread([]);
  // tshark may have fewer runs: pair its runs with flowmesh's median then.
  if (other.length < flowmesh.length) {
    const median = spread(flowmesh).median;
    return spread(other.map((o) => o / median));
  }
  return spread(Array.from({ length: n }, (_, i) => other[i] / flowmesh[i]));
}

function times(tool: ToolResult | undefined, inner = false): number[] {
  if (!tool) return [];
  return tool.runs.map((r) => (inner ? (r as { inner?: number }).inner ?? NaN : r.seconds));
}

export function reportIngest(ingest: IngestResult, truth: CaptureTruth): { text: string; json: object } {
  const find = (name: string) => ingest.tools.find((t) => t.tool === name);
  const table = find(TABLE_ONLY);
  const full = find(FULL_PATH);
  const read = find(READ_ONLY);
  const readLibpcap = find(READ_ONLY_LIBPCAP);
  const rows = ingest.tools.map((t) => {
    const vsTable = t === table ? spread([]) : pairedRatio(times(table), times(t));
    const vsFull = t === full ? spread([]) : pairedRatio(times(full), times(t));
    return [
      t.tool,
      t.error ? `failed: ${t.error.slice(0, 60)}` : spreadText(t.packetsPerSecond, (x) => si(x)),
      t.error ? '' : spreadText(t.flowsPerSecond, (x) => si(x)),
      spreadText(vsTable, ratio),
      spreadText(vsFull, ratio),
      mib(t.peakRssBytes ?? NaN),
    ];
  });
  // Ceilings compare time inside the process (all load the same modules first).
  const shareOf = (reader: ToolResult | undefined) => (table && reader ? pairedRatio(times(table, true), times(reader, true)) : spread([]));
  const ceiling = shareOf(read);
  const libpcapCeiling = shareOf(readLibpcap);
  const innerRate = (tool: ToolResult | undefined) =>
    tool?.innerSeconds ? spread(tool.runs.map((r) => ingest.corpus.packets / ((r as { inner?: number }).inner ?? NaN))) : spread([]);
  const tableInner = innerRate(table);
  const readInner = innerRate(read);
  const readLibpcapInner = innerRate(readLibpcap);
  const agree = agreement(ingest, truth);
  const text =
    formatTable(
      `Offline ingest: ${si(truth.packets)} packets, ${si(truth.flows)} connections (${pct(truth.ipv6Flows / truth.flows, 0)} IPv6), wall time per process`,
      ['tool', 'packets/s median (min–max)', 'flows/s', 'decode+table speed vs tool', 'full path vs tool', 'peak RSS'],
      rows,
    ) +
    `\nInside the process (module loading excluded): decode+flow table ${spreadText(tableInner, (x) => si(x))} packets/s, ` +
    `read-only: libpcap binding ${spreadText(readLibpcapInner, (x) => si(x))} packets/s, Flowmesh file reader ${spreadText(readInner, (x) => si(x))} packets/s; ` +
    `decode+flow table reaches ${spreadText(libpcapCeiling, pct)} of the libpcap read-only ceiling and ${spreadText(ceiling, pct)} of the file reader's.\n` +
    formatTable(
      'Flow agreement with the generator ground truth (first run of each tool)',
      ['tool', 'flows found', 'expected', 'unit', 'packets found', 'expected', 'bytes found', 'expected', 'unit', 'exact', 'note'],
      agree.map((a) => [
        a.tool, a.flows, a.expectedFlows, a.flowUnit,
        Number.isNaN(a.packets) ? '–' : a.packets, a.expectedPackets,
        Number.isNaN(a.bytes) ? '–' : Math.round(a.bytes), a.expectedBytes, a.byteUnit, a.exact ? 'yes' : 'no', a.note ?? '',
      ]),
    );
  return {
    text,
    json: {
      corpus: ingest.corpus,
      truth,
      tools: ingest.tools.map((t) => ({
        ...t,
        ratioDecodeTableVsTool: t === table ? null : pairedRatio(times(table), times(t)),
        ratioFullPathVsTool: t === full ? null : pairedRatio(times(full), times(t)),
      })),
      decodeTableShareOfReadCeiling: ceiling,
      decodeTableShareOfLibpcapReadCeiling: libpcapCeiling,
      packetsPerSecondInside: { decodeTable: tableInner, readOnly: readInner, readOnlyLibpcap: readLibpcapInner },
      agreement: agree,
    },
  };
}
