/**
 * Memory: peak RSS of the agent holding N concurrent flows (N single-packet flows inside one
 * second, so none expires). Two figures per N:
 * - the flow table process (decode + DNS + flow table, null sink) at the moment it holds all
 *   N flows, before the final flush (VmHWM from /proc);
 * - the whole `flowmesh-agent import --db` process (store included) from start to exit, as
 *   GNU time reports it, with how many of the N flows reached the database.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Corpus } from './corpus';
import { importSummary } from './ingest';
import { recordFailure } from './failures';
import { log } from './log';
import { AGENT_CLI, WORKER } from './paths';
import { runTool } from './proc';
import { spread, type Spread } from './stats';
import { formatTable, mib, si, spreadText } from './table';

export interface MemoryRow {
  flows: number;
  tableRssBytes: Spread;
  activeFlows: number;
  cliPeakRssBytes: Spread;
  cliFlows: number;
  error?: string;
}

export async function runMemory(corpora: Corpus[], runs: number): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  const work = mkdtempSync(join(tmpdir(), 'flowmesh-bench-mem-'));
  try {
    for (const corpus of corpora) {
      const n = corpus.truth.flows;
      const config = join(work, `agent-${n}.json`);
      writeFileSync(config, JSON.stringify({ flows: { max_flows: n } }));
      const table: number[] = [];
      const cli: number[] = [];
      let activeFlows = 0;
      let cliFlows = 0;
      let error: string | undefined;
      for (let r = 0; r < runs; r++) {
        log.step(`memory run ${r + 1}/${runs}: ${si(n)} concurrent flows`);
        try {
          const worker = await runTool(process.execPath, [WORKER, 'table', corpus.path, String(n)], { timeoutS: 600 });
          const out = JSON.parse(worker.stdout.trim().split('\n').pop() ?? '{}') as { peakRssWithFlowsBytes: number; activeFlowsAtEnd: number };
          table.push(out.peakRssWithFlowsBytes);
          activeFlows = out.activeFlowsAtEnd;
          const db = join(work, `mem-${n}-${r}.duckdb`);
          const run = await runTool(process.execPath, [AGENT_CLI, 'import', corpus.path, '--config', config, '--db', db, '--log-level', 'info', '--node', 'bench'], { timeoutS: 900, usage: true });
          cli.push(run.peakRssBytes);
          cliFlows = importSummary(run.stdout + '\n' + run.stderr)?.flows ?? NaN;
          rmSync(db, { force: true });
          rmSync(`${db}.wal`, { force: true });
        } catch (e) {
          error = (e as Error).message;
          recordFailure(`memory: ${si(n)} concurrent flows`, error);
          break;
        }
      }
      rows.push({ flows: n, tableRssBytes: spread(table), activeFlows, cliPeakRssBytes: spread(cli), cliFlows, error });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

export function reportMemory(rows: MemoryRow[]): string {
  return formatTable(
    'Memory with N concurrent flows',
    ['concurrent flows', 'flow table process RSS (all N held)', 'flows held', 'agent import --db peak RSS', 'flows counted by import'],
    rows.map((r) => [si(r.flows), spreadText(r.tableRssBytes, mib), r.activeFlows, spreadText(r.cliPeakRssBytes, mib), r.error ? `failed: ${r.error.slice(0, 60)}` : r.cliFlows]),
  );
}
