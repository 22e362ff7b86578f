/**
 * Flow agreement: what each tool found against the generator's ground truth, so that speed
 * is never bought with wrong answers. Each tool is compared in its own units: connections
 * for bidirectional tools, directional flows for NetFlow-style ones; IP bytes or frame bytes.
 */
import type { CaptureTruth } from './corpus';
import type { IngestResult } from './ingest';

export interface AgreementRow {
  tool: string;
  flows: number;
  expectedFlows: number;
  flowUnit: string;
  packets: number;
  expectedPackets: number;
  bytes: number;
  expectedBytes: number;
  byteUnit: string;
  exact: boolean;
  note?: string;
}

export function agreement(ingest: IngestResult, truth: CaptureTruth): AgreementRow[] {
  const rows: AgreementRow[] = [];
  for (const tool of ingest.tools) {
    const run = tool.runs[0];
    if (!run || Number.isNaN(run.flows)) continue;
    const uni = run.flowKind === 'unidirectional';
    const expectedFlows = uni ? truth.uniflows : truth.flows;
    const expectedBytes = run.bytesKind === 'ip' ? truth.ipBytes : truth.frameBytes;
    const row: AgreementRow = {
      tool: tool.tool,
      flows: run.flows,
      expectedFlows,
      flowUnit: uni ? 'directional flows' : 'connections',
      packets: run.packets,
      expectedPackets: truth.packets,
      bytes: run.bytes,
      expectedBytes,
      byteUnit: run.bytesKind === 'ip' ? 'IP bytes' : 'frame bytes',
      exact: run.flows === expectedFlows && (Number.isNaN(run.bytes) || run.bytes === expectedBytes) && (Number.isNaN(run.packets) || run.packets === truth.packets),
      note: [run.note, run.bytesApproximate ? 'bytes rounded by the tool' : ''].filter(Boolean).join('; ') || undefined,
    };
    rows.push(row);
  }
  return rows;
}
