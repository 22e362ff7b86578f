/**
 * The ingest and agreement tables, and their JSON. Ratios pair run i of one tool with run i of
 * another, by wall time and by CPU time (user + system of the process).
 */
import { agreement } from './agreement';
import type { CaptureTruth } from './corpus';
import type { IngestResult, ToolResult } from './ingest';
import { spread, type Spread } from './stats';
import { formatTable, mib, pct, ratio, si, spreadText } from './table';

export const READ_ONLY_LIBPCAP = 'libpcap read (capture addon, read only)';
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

function cpuTimes(tool: ToolResult | undefined): number[] {
  return tool ? tool.runs.map((r) => r.cpuSeconds).filter((x) => Number.isFinite(x)) : [];
}

/** "wall ratio / CPU ratio" of `reference` against `tool`. */
function ratios(reference: ToolResult | undefined, tool: ToolResult): string {
  if (reference === tool) return '–';
  const wall = spreadText(pairedRatio(times(reference), times(tool)), ratio);
  const cpu = spreadText(pairedRatio(cpuTimes(reference), cpuTimes(tool)), ratio);
  return `${wall} / ${cpu}`;
}

export function reportIngest(ingest: IngestResult, truth: CaptureTruth): { text: string; json: object } {
  const find = (name: string) => ingest.tools.find((t) => t.tool === name);
  const table = find(TABLE_ONLY);
  const full = find(FULL_PATH);
  const read = find(READ_ONLY);
  const readLibpcap = find(READ_ONLY_LIBPCAP);
  const rows = ingest.tools.map((t) => [
    t.tool,
    t.error ? `failed: ${t.error.slice(0, 60)}` : spreadText(t.packetsPerSecond, (x) => si(x)),
    t.error ? '' : spreadText(t.packetsPerCpuSecond, (x) => si(x)),
    t.error ? '' : spreadText(t.flowsPerSecond, (x) => si(x)),
    ratios(table, t),
    ratios(full, t),
    mib(t.peakRssBytes ?? NaN),
  ]);
  // Ceilings compare time inside the process (all load the same modules first).
  const shareOf = (reader: ToolResult | undefined) => (table && reader ? pairedRatio(times(table, true), times(reader, true)) : spread([]));
  const ceiling = shareOf(read);
  const libpcapCeiling = shareOf(readLibpcap);
  const innerRate = (tool: ToolResult | undefined, key: 'inner' | 'innerCpu') =>
    tool?.innerSeconds ? spread(tool.runs.map((r) => ingest.corpus.packets / ((r as { inner?: number; innerCpu?: number })[key] ?? NaN))) : spread([]);
  const inside = (tool: ToolResult | undefined) =>
    `${spreadText(innerRate(tool, 'inner'), (x) => si(x))} packets/s, ${spreadText(innerRate(tool, 'innerCpu'), (x) => si(x))} per CPU-second`;
  const tableInner = innerRate(table, 'inner');
  const readInner = innerRate(read, 'inner');
  const readLibpcapInner = innerRate(readLibpcap, 'inner');
  const agree = agreement(ingest, truth);
  const text =
    formatTable(
      `Offline ingest, ${ingest.corpus.label}: ${si(truth.packets)} packets of ${Math.round(ingest.corpus.meanFrameBytes)} bytes on average (${mib(fileBytes(truth))} captured), ` +
        `${si(truth.flows)} connections (${pct(truth.ipv6Flows / truth.flows, 0)} IPv6); per process: wall time and CPU time (user + system)`,
      ['tool', 'packets/s median (min–max)', 'packets per CPU-second', 'flows/s', 'decode+table vs tool (wall / CPU)', 'full path vs tool (wall / CPU)', 'peak RSS'],
      rows,
    ) +
    `\nInside the process (module loading excluded): decode+flow table ${inside(table)}; ` +
    `read-only: libpcap through the capture addon ${inside(readLibpcap)}, Flowmesh file reader ${inside(read)}; ` +
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
        ratioDecodeTableVsToolPerCpuSecond: t === table ? null : pairedRatio(cpuTimes(table), cpuTimes(t)),
        ratioFullPathVsToolPerCpuSecond: t === full ? null : pairedRatio(cpuTimes(full), cpuTimes(t)),
      })),
      decodeTableShareOfReadCeiling: ceiling,
      decodeTableShareOfLibpcapReadCeiling: libpcapCeiling,
      packetsPerSecondInside: { decodeTable: tableInner, readOnly: readInner, readOnlyLibpcap: readLibpcapInner },
      packetsPerCpuSecondInside: { decodeTable: innerRate(table, 'innerCpu'), readOnly: innerRate(read, 'innerCpu'), readOnlyLibpcap: innerRate(readLibpcap, 'innerCpu') },
      agreement: agree,
    },
  };
}

/** Bytes of packet data in the corpus file (captured lengths; frame bytes for the bench's own generator, which never truncates). */
function fileBytes(truth: CaptureTruth): number {
  return truth.capturedBytes ?? truth.frameBytes;
}
