/**
 * Federation: the plugin backend's query path (plugin/pkg/query: plan, concurrent fan-out,
 * exact merge) driven by a small Go program (bench/go) against 8 real agents (`flowmesh-agent
 * serve`) on loopback, each serving its own copy of a stored-flow database built by the
 * agent's store benchmark. The same queries over 1, 4 and 8 agents; the figure is the
 * latency ratio to one agent.
 *
 * All agents share this machine's cores, so with more agents than cores each query's work
 * is serialised and the ratio includes CPU contention that separate nodes would not have.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { log } from './log';
import { AGENT_CLI, GO_DRIVER_DIR, cacheDir } from './paths';
import { collectOutput, freePort, haveCommand, runTool, startTracked, stopChild } from './proc';
import { STORE_SCRIPT } from './store';
import { formatTable, ms, ratio } from './table';

const GO = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
const TOKEN = 'flowmesh-bench-token';
/** The agent store benchmark's data: one day ending here. */
const END_MS = Date.UTC(2026, 0, 10);
const DAY_MS = 86_400_000;

export const FEDERATION_QUERIES = [
  { name: 'top 10 src_ip, 24 h', query: { refId: 'A', queryType: 'top', groupBy: ['src_ip'], metric: 'bytes', limit: 10 } },
  { name: 'timeseries 1 min, 24 h', query: { refId: 'A', queryType: 'timeseries', metric: 'bytes', interval: '1m' } },
  {
    name: 'filtered flows page (100)',
    query: {
      refId: 'A', queryType: 'flows', limit: 100,
      filters: [{ field: 'protocol', op: 'eq', value: 'tcp' }, { field: 'dst_port', op: 'in', values: [443, 22] }, { field: 'bytes', op: 'gt', value: 10000 }],
    },
  },
];

interface Measurement {
  query: string;
  agents: number;
  /** The agents asked one at a time (no fan-out), for comparison. */
  sequential: boolean;
  median_ms: number;
  p95_ms: number;
  min_ms: number;
  max_ms: number;
  error?: string;
}

export interface FederationResult {
  recordsPerAgent: number;
  counts: number[];
  runs: number;
  measurements: Measurement[];
  ratios: { query: string; agents: number; ratioToOne: number; ratioToSequential: number }[];
  skipped?: string;
}

/** A stored-flow database from the agent's store benchmark, cached across runs. */
async function agentDatabase(records: number): Promise<string> {
  const dir = cacheDir(`federation-db-${records}`);
  const db = join(dir, 'bench.duckdb');
  const done = join(dir, 'complete');
  if (existsSync(db) && existsSync(done)) return db;
  log.step(`federation: building a ${records.toLocaleString('en')}-record agent database`);
  rmSync(done, { force: true });
  await runTool(process.execPath, [STORE_SCRIPT, '--records', String(records), '--runs', '1', '--dir', dir], { timeoutS: 1200 });
  writeFileSync(done, new Date().toISOString());
  return db;
}

async function waitHealthy(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`agent exited early: ${stderr().slice(-300)}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`agent at ${url} not healthy within 60 s`);
}

export async function runFederation(quick: boolean, runs: number): Promise<FederationResult> {
  const counts = quick ? [1, 4] : [1, 4, 8];
  const recordsPerAgent = quick ? 200_000 : 2_000_000;
  const result: FederationResult = { recordsPerAgent, counts, runs, measurements: [], ratios: [] };
  if (!haveCommand('go') && !existsSync(GO)) {
    result.skipped = 'Go toolchain not found';
    return result;
  }
  if (!existsSync(STORE_SCRIPT)) throw new Error(`${STORE_SCRIPT} is missing (agent store benchmark not built)`);
  log.step('federation: building the Go driver (bench/go)');
  const driver = join(GO_DRIVER_DIR, 'flowmesh-fedbench');
  await runTool(GO, ['build', '-o', driver, '.'], { cwd: GO_DRIVER_DIR, timeoutS: 600 });
  const source = await agentDatabase(recordsPerAgent);
  const work = mkdtempSync(join(tmpdir(), 'flowmesh-bench-fed-'));
  const agents: ChildProcess[] = [];
  const maxAgents = Math.max(...counts);
  try {
    const urls: string[] = [];
    for (let i = 0; i < maxAgents; i++) {
      const dir = join(work, `agent-${i + 1}`);
      mkdirSync(dir);
      const db = join(dir, 'flows.duckdb');
      copyFileSync(source, db);
      const port = await freePort('tcp');
      const url = `http://127.0.0.1:${port}`;
      const child = startTracked(process.execPath, [AGENT_CLI, 'serve', '--db', db, '--listen', `127.0.0.1:${port}`, '--token', TOKEN, '--node', `agent-${i + 1}`, '--log-level', 'warn']);
      const output = collectOutput(child);
      agents.push(child);
      await waitHealthy(url, child, output.stderr);
      urls.push(url);
    }
    log.step(`federation: ${maxAgents} agents up; measuring ${counts.join(', ')} agents`);
    const run = await runTool(driver, [
      '-agents', urls.join(','), '-token', TOKEN, '-counts', counts.join(','), '-from', String(END_MS - DAY_MS), '-to', String(END_MS),
      '-runs', String(runs), '-queries', JSON.stringify(FEDERATION_QUERIES),
    ], { timeoutS: 1200 });
    result.measurements = JSON.parse(run.stdout) as Measurement[];
    for (const m of result.measurements) {
      if (m.sequential || m.error) continue;
      const one = result.measurements.find((x) => x.query === m.query && x.agents === 1);
      const sequential = result.measurements.find((x) => x.query === m.query && x.agents === m.agents && x.sequential);
      if (one) result.ratios.push({ query: m.query, agents: m.agents, ratioToOne: m.median_ms / one.median_ms, ratioToSequential: sequential ? m.median_ms / sequential.median_ms : NaN });
    }
  } finally {
    await Promise.all(agents.map((a) => stopChild(a, 10_000)));
    rmSync(work, { recursive: true, force: true });
  }
  return result;
}

export function reportFederation(f: FederationResult): string {
  if (f.skipped) return `\n### Federation\n\nskipped: ${f.skipped}\n`;
  const text = (m: Measurement | undefined) => (!m ? '–' : m.error ? `failed: ${m.error.slice(0, 60)}` : `${ms(m.median_ms)} (${ms(m.min_ms)}–${ms(m.max_ms)})`);
  const rows = f.measurements.filter((m) => !m.sequential).map((m) => {
    const r = f.ratios.find((x) => x.query === m.query && x.agents === m.agents);
    const sequential = f.measurements.find((x) => x.query === m.query && x.agents === m.agents && x.sequential);
    return [m.query, m.agents, text(m), m.error ? '' : ms(m.p95_ms), r ? ratio(r.ratioToOne) : '–', m.agents > 1 ? text(sequential) : '', r && m.agents > 1 ? ratio(r.ratioToSequential) : ''];
  });
  return (
    formatTable(
      `Federation through the plugin backend (${f.recordsPerAgent.toLocaleString('en')} records per agent, ${f.runs} runs, agents on loopback sharing this machine)`,
      ['query', 'agents', 'federated median (min–max)', 'p95', 'ratio to 1 agent', 'agents asked one at a time', 'federated / one at a time'],
      rows,
    ) +
    `\nEvery agent here shares the same ${cpus().length} cores, so N agents do N times the query work on them: the ratio to one agent includes that contention, ` +
    'which agents on their own nodes do not have. "One at a time" asks each agent alone in turn through the same backend code; federated / one at a time below 1 is what the parallel fan-out saves.\n'
  );
}
