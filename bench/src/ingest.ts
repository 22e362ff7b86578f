/**
 * Offline ingest: the same capture through Flowmesh (read-only ceilings of libpcap and of the
 * agent's own file reader, decode + flow table, full path into DuckDB through the CLI) and
 * through every peer tool. Runs are interleaved (run 1 of every tool, then run 2...) so that
 * load from other users of the machine spreads over all tools alike; each tool's figure is the
 * median of its runs. Every run is timed by the wall clock and by its CPU time (user + system,
 * GNU time), so each tool has packets per second and packets per CPU-second.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Corpus } from './corpus';
import { log } from './log';
import { AGENT_CLI, WORKER } from './paths';
import { argus } from './peers/argus';
import { pmacct } from './peers/pmacct';
import { softflowd } from './peers/softflowd';
import { tshark } from './peers/tshark';
import type { Peer, PeerRun } from './peers/types';
import { recordFailure, recordSkip } from './failures';
import { haveCommand, runTool } from './proc';
import { READ_ONLY, READ_ONLY_LIBPCAP } from './report';
import { spread, type Spread } from './stats';

export const PEERS: Peer[] = [softflowd, argus, pmacct, tshark];

export interface ToolResult {
  tool: string;
  command: string;
  runs: PeerRun[];
  seconds: Spread;
  packetsPerSecond: Spread;
  /** User + system CPU seconds of the process, and the packets per CPU-second they imply. */
  cpuSeconds: Spread;
  packetsPerCpuSecond: Spread;
  flowsPerSecond: Spread;
  error?: string;
  /** Flowmesh only: wall and CPU time inside the process (module loading excluded). */
  innerSeconds?: Spread;
  innerCpuSeconds?: Spread;
  peakRssBytes?: number;
}

export interface IngestResult {
  corpus: { name: string; label: string; path: string; packets: number; flows: number; meanFrameBytes: number };
  tools: ToolResult[];
}

interface WorkerOutput {
  packets: number;
  seconds: number;
  cpuSeconds: number;
  flows?: number;
  ipBytes?: number;
  recordPackets?: number;
  wireBytes?: number;
  peakRssBytes: number;
}

async function worker(mode: string, file: string, ...extra: string[]): Promise<{ out: WorkerOutput; wall: number; cpu: number; rss: number }> {
  const run = await runTool(process.execPath, [WORKER, mode, file, ...extra], { timeoutS: 900, usage: true });
  return { out: JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as WorkerOutput, wall: run.seconds, cpu: run.cpuSeconds, rss: run.peakRssBytes };
}

/** The agent CLI's end-of-import summary (a pino line when not on a terminal). */
export function importSummary(text: string): { packets: number; flows: number; records: number } | null {
  for (const line of text.split('\n').reverse()) {
    if (!line.includes('"summary"')) continue;
    try {
      const parsed = JSON.parse(line) as { summary?: { packets: number; flows: number; records: number } };
      if (parsed.summary) return parsed.summary;
    } catch {
      // not JSON
    }
  }
  return null;
}

type InnerRun = PeerRun & { inner?: number; innerCpu?: number; rss?: number };
type Runner = { tool: string; command: string; run: (work: string) => Promise<InnerRun> };

function flowmeshRunners(pcap: string): Runner[] {
  return [
    {
      tool: READ_ONLY_LIBPCAP,
      command: 'agent readCaptureFile through libpcap (the capture addon, packets in batches), no-op handler',
      run: async () => {
        const { out, wall, cpu, rss } = await worker('read-libpcap', pcap);
        return { seconds: wall, cpuSeconds: cpu, inner: out.seconds, innerCpu: out.cpuSeconds, rss, flows: NaN, flowKind: 'bidirectional', packets: out.packets, bytes: out.wireBytes ?? NaN, bytesKind: 'frame' };
      },
    },
    {
      tool: READ_ONLY,
      command: 'agent readCaptureFile (JavaScript reader), no-op handler',
      run: async () => {
        const { out, wall, cpu, rss } = await worker('read', pcap);
        return { seconds: wall, cpuSeconds: cpu, inner: out.seconds, innerCpu: out.cpuSeconds, rss, flows: NaN, flowKind: 'bidirectional', packets: out.packets, bytes: out.wireBytes ?? NaN, bytesKind: 'frame' };
      },
    },
    {
      tool: 'flowmesh decode+flow table',
      command: 'agent Pipeline (decode, DNS, flow table), null sink',
      run: async () => {
        const { out, wall, cpu, rss } = await worker('table', pcap, String(262144));
        return { seconds: wall, cpuSeconds: cpu, inner: out.seconds, innerCpu: out.cpuSeconds, rss, flows: out.flows ?? NaN, flowKind: 'bidirectional', packets: out.recordPackets ?? NaN, bytes: out.ipBytes ?? NaN, bytesKind: 'ip' };
      },
    },
    {
      tool: 'flowmesh import -> DuckDB',
      command: 'flowmesh-agent import FILE --db PATH',
      run: async (work) => {
        const db = join(work, `import-${Date.now()}.duckdb`);
        try {
          const run = await runTool(process.execPath, [AGENT_CLI, 'import', pcap, '--db', db, '--log-level', 'info', '--node', 'bench'], { timeoutS: 900, usage: true });
          const summary = importSummary(run.stdout + '\n' + run.stderr);
          return {
            seconds: run.seconds, cpuSeconds: run.cpuSeconds, rss: run.peakRssBytes, flows: summary?.flows ?? NaN, flowKind: 'bidirectional', packets: NaN, bytes: NaN, bytesKind: 'ip',
            note: summary ? undefined : 'no summary line found in the CLI output',
          };
        } finally {
          rmSync(db, { force: true });
          rmSync(`${db}.wal`, { force: true });
        }
      },
    },
  ];
}

export async function runIngest(corpus: Corpus, runs: number, options: { peers: Peer[]; tsharkRuns: number }): Promise<IngestResult> {
  const where = `ingest (${corpus.label})`;
  const work = mkdtempSync(join(tmpdir(), 'flowmesh-bench-'));
  const runners: Runner[] = [...flowmeshRunners(corpus.path)];
  const skipped: ToolResult[] = [];
  for (const peer of options.peers) {
    const missing = peer.requires.filter((c) => !haveCommand(c));
    if (missing.length) {
      recordSkip(`${where}: ${peer.name}`, `not installed: ${missing.join(', ')}`);
      skipped.push(emptyResult(peer.name, peer.command, `not installed: ${missing.join(', ')}`));
      continue;
    }
    runners.push({ tool: peer.name, command: peer.command, run: (w) => peer.run(corpus.path, w) });
  }
  const collected = new Map<string, { runs: InnerRun[]; error?: string }>();
  try {
    for (let r = 0; r < runs; r++) {
      for (const runner of runners) {
        const entry = collected.get(runner.tool) ?? { runs: [] };
        collected.set(runner.tool, entry);
        if (entry.error) continue;
        if (runner.tool === 'tshark' && r >= options.tsharkRuns) continue;
        log.step(`ingest (${corpus.label}) run ${r + 1}/${runs}: ${runner.tool}`);
        try {
          const result = await runner.run(work);
          entry.runs.push(result);
          log.step(`  ${runner.tool}`, { seconds: result.seconds, cpuSeconds: result.cpuSeconds, packetsPerSecond: Math.round(corpus.truth.packets / result.seconds) });
        } catch (error) {
          entry.error = (error as Error).message;
          recordFailure(`${where}: ${runner.tool}`, entry.error);
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const tools = runners.map((runner) => {
    const entry = collected.get(runner.tool) ?? { runs: [] };
    const seconds = entry.runs.map((x) => x.seconds);
    const cpu = entry.runs.map((x) => x.cpuSeconds).filter((x) => Number.isFinite(x));
    const result: ToolResult = {
      tool: runner.tool,
      command: runner.command,
      runs: entry.runs,
      seconds: spread(seconds),
      packetsPerSecond: spread(seconds.map((s) => corpus.truth.packets / s)),
      cpuSeconds: spread(cpu),
      packetsPerCpuSecond: spread(cpu.map((s) => corpus.truth.packets / s)),
      flowsPerSecond: spread(seconds.map((s) => corpus.truth.flows / s)),
      error: entry.error,
    };
    const inner = entry.runs.map((x) => x.inner).filter((x): x is number => x !== undefined);
    if (inner.length) result.innerSeconds = spread(inner);
    const innerCpu = entry.runs.map((x) => x.innerCpu).filter((x): x is number => x !== undefined);
    if (innerCpu.length) result.innerCpuSeconds = spread(innerCpu);
    const rss = entry.runs.map((x) => x.rss ?? 0).filter((x) => x > 0);
    if (rss.length) result.peakRssBytes = Math.max(...rss);
    return result;
  });
  const meanFrameBytes = corpus.truth.frameBytes / corpus.truth.packets;
  return { corpus: { name: corpus.name, label: corpus.label, path: corpus.path, packets: corpus.truth.packets, flows: corpus.truth.flows, meanFrameBytes }, tools: [...tools, ...skipped] };
}

function emptyResult(tool: string, command: string, error: string): ToolResult {
  const none = spread([]);
  return { tool, command, runs: [], seconds: none, packetsPerSecond: none, cpuSeconds: none, packetsPerCpuSecond: none, flowsPerSecond: none, error };
}
