/**
 * Store and query: runs the agent's own store benchmark (agent/src/bench/store.ts, built to
 * agent/dist/bench/store.js: write rate through FlowStore, bytes on disk per record, median
 * and p95 latency of top 10 / 24 h timeseries / filtered flows page over the last 24 h) and
 * reads its report. 10 M records in the full run, 200 k in quick mode.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { log } from './log';
import { AGENT_DIST } from './paths';
import { runTool } from './proc';
import { formatTable } from './table';

export const STORE_SCRIPT = join(AGENT_DIST, 'bench/store.js');

export interface StoreResult {
  records: number;
  runs: number;
  /** The agent benchmark's rows, name -> value text. */
  figures: Record<string, string>;
  /** Query latencies, name -> {median, p95} in ms. */
  latency: Record<string, { medianMs: number; p95Ms: number }>;
  writeRecordsPerSecond: number;
  bytesPerRecord: number;
  seconds: number;
}

/** Parses `  name   value` rows of the agent store benchmark's report. */
export function parseStoreReport(text: string): { figures: Record<string, string>; latency: StoreResult['latency'] } {
  const figures: Record<string, string> = {};
  const latency: StoreResult['latency'] = {};
  for (const line of text.split('\n')) {
    const m = /^ {2}(\S.*?)\s{2,}(\S.*)$/.exec(line);
    if (!m) continue;
    const [, name, value] = m;
    const l = /median ([\d.]+) ms, p95 ([\d.]+) ms/.exec(value);
    if (l) latency[name] = { medianMs: Number(l[1]), p95Ms: Number(l[2]) };
    else figures[name] = value;
  }
  return { figures, latency };
}

const numberIn = (text: string | undefined, pattern: RegExp): number => Number((text && pattern.exec(text)?.[1]?.replace(/,/g, '')) ?? NaN);

export async function runStore(quick: boolean): Promise<StoreResult> {
  if (!existsSync(STORE_SCRIPT)) throw new Error(`${STORE_SCRIPT} is missing (agent store benchmark not built)`);
  const records = quick ? 200_000 : 10_000_000;
  const runs = quick ? 9 : 15;
  const dir = mkdtempSync(join(tmpdir(), 'flowmesh-bench-store-'));
  log.step(`store: agent store benchmark with ${records.toLocaleString('en')} records`);
  try {
    const run = await runTool(process.execPath, [STORE_SCRIPT, '--records', String(records), '--runs', String(runs), '--dir', dir], { timeoutS: 1200 });
    const { figures, latency } = parseStoreReport(run.stdout);
    const writeKey = Object.keys(figures).find((k) => k.startsWith('write rate'));
    const sizeKey = Object.keys(figures).find((k) => k.startsWith('database size'));
    return {
      records, runs, figures, latency, seconds: run.seconds,
      writeRecordsPerSecond: numberIn(writeKey && figures[writeKey], /([\d,]+) records\/s/),
      bytesPerRecord: numberIn(sizeKey && figures[sizeKey], /([\d.]+) bytes\/record/),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function reportStore(store: StoreResult): string {
  return (
    formatTable(`Store (${store.records.toLocaleString('en')} records, agent/dist/bench/store.js)`, ['figure', 'value'], Object.entries(store.figures)) +
    formatTable(`Query latency over the last 24 h (${store.runs} runs each)`, ['query', 'median', 'p95'],
      Object.entries(store.latency).map(([name, l]) => [name, `${l.medianMs} ms`, `${l.p95Ms} ms`]))
  );
}
