/**
 * Federation: the plugin backend's query path (plugin/pkg/query: plan, concurrent fan-out,
 * exact merge) driven by a small Go program (bench/go) against real agents (`flowmesh-agent
 * serve`) on loopback, over a stored-flow database built by the agent's store benchmark.
 * The same queries over 1, 4 and 8 agents, in two layouts:
 *
 * - split (as deployed: each mesh node stores its own traffic): the same records spread over
 *   the agents, each holding 1/N of them (federation-split.ts). The ratio to one agent holding
 *   everything is the federation overhead; the merged answers must equal one agent's (top
 *   rows, time-series bucket sums, the flows page's records), checked on every run and
 *   printed loudly when they differ.
 *   Co-located agents queue up on the shared cores, so the agents' query work is also taken
 *   out, for an estimate of agents on separate machines: in interleaved runs, one agent
 *   holding everything alone, each agent of the split alone, and the federated query over
 *   in-process servers replaying each agent's recorded reply at once (fan-out, HTTP, decoding
 *   and merge with no agent work; bench/go/separate.go, replay.go), whose merged answers must
 *   equal the real agents'. Estimate = slowest agent alone + federation with instant agents.
 * - full copy: every agent serves its own copy of the whole database, so N agents do N times
 *   the query work. On a machine with fewer cores than agents this measures CPU contention
 *   more than federation.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { shareDatabases } from './federation-split';
import { recordFailure, recordSkip } from './failures';
import { log } from './log';
import { agent } from './agent';
import { AGENT_CLI, GO_DRIVER_DIR, cacheDir } from './paths';
import { collectOutput, freePort, haveCommand, runTool, startTracked, stopChild } from './proc';
import { STORE_SCRIPT } from './store';
import { spread, type Spread } from './stats';
import { formatTable, ms, ratio, spreadText } from './table';

const GO = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
export const TOKEN = 'flowmesh-bench-token';
/** The agent store benchmark's data: one day ending here. */
export const END_MS = Date.UTC(2026, 0, 10);
export const DAY_MS = 86_400_000;

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

/** Every agent its own copy of all records, or the records split across the agents. */
export type FederationLayout = 'full copy' | 'split';

/** The driver's digest of a merged answer (bench/go: digest). */
interface Digest {
  top_rows?: string[];
  top_total?: number;
  times?: number[];
  bucket_sums?: number[];
  flows?: string[];
}

/**
 * How the driver asked (bench/go: mode): one federated query; each agent alone in turn, timed
 * together (no fan-out); one agent alone (`agent` says which); federated over servers
 * replaying the agents' recorded replies at once; or the agent holding every record alone, in
 * the same interleaved runs as the last two.
 */
type Mode = 'federated' | 'one at a time' | 'alone' | 'instant agents' | 'reference';

interface Measurement {
  layout: FederationLayout;
  query: string;
  agents: number;
  mode: Mode;
  /** The agent asked (1-based), for mode 'alone'. */
  agent?: number;
  /** Every run's time. */
  ms: number[];
  median_ms: number;
  p95_ms: number;
  min_ms: number;
  max_ms: number;
  digest?: Digest;
  error?: string;
}

/**
 * One merged answer compared with its reference: N agents holding shares with one agent
 * holding everything, or instant agents replaying the real agents' replies with those agents.
 */
interface Agreement {
  query: string;
  agents: number;
  /** The federated answer of the real agents, or of the instant ones. */
  of: 'real agents' | 'instant agents';
  equal: boolean;
  /** What differs, when something does. */
  detail: string;
}

export interface FederationResult {
  /** Records in the database: each agent's copy (full copy), or all agents together (split). */
  records: number;
  counts: number[];
  runs: number;
  measurements: Measurement[];
  ratios: { layout: FederationLayout; query: string; agents: number; ratioToOne: number; ratioToSequential: number }[];
  agreement: Agreement[];
  estimates: Estimate[];
  skipped?: string;
}

/**
 * Agents on separate machines, estimated for the split layout: a fan-out waits at least for
 * its slowest agent, and federation adds what it costs with agents that answer at once. Run i
 * of the estimate is run i of the slowest agent alone plus run i of the instant-agent query;
 * its ratio to one agent holding everything divides that by the same run's time of that agent
 * (the driver interleaves them, so a run's parts see the same load). Slowest = highest median
 * alone.
 */
interface Estimate {
  query: string;
  agents: number;
  slowestAgent: number;
  slowestAlone: Spread;
  instant: Spread;
  /** One agent holding every record, in the same runs. */
  one: Spread;
  estimate: Spread;
  ratioToOne: Spread;
}

/** The cache folder of the stored-flow database of `records` records in the agent's schema version (an older file's table does not fit). */
const databaseCache = (records: number, ...sub: string[]) => cacheDir(`federation-db-${records}-schema${agent.schemaVersion()}`, ...sub);

/** A stored-flow database from the agent's store benchmark, cached across runs, with its `complete` marker. */
export async function agentDatabase(records: number): Promise<{ db: string; marker: string; dir: string }> {
  const dir = databaseCache(records);
  const db = join(dir, 'bench.duckdb');
  const marker = join(dir, 'complete');
  if (existsSync(db) && existsSync(marker)) return { db, marker, dir };
  log.step(`federation: building a ${records.toLocaleString('en')}-record agent database`);
  rmSync(marker, { force: true });
  await runTool(process.execPath, [STORE_SCRIPT, '--records', String(records), '--runs', '1', '--dir', dir], { timeoutS: 1200 });
  writeFileSync(marker, new Date().toISOString());
  return { db, marker, dir };
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

/**
 * Agents serving copies of these databases (one each, copied into `work`: serving may write to
 * them); `extraArgs` go to every agent's command line.
 */
export async function startAgents(databases: readonly string[], work: string, agents: ChildProcess[], extraArgs: readonly string[] = []): Promise<string[]> {
  const urls: string[] = [];
  for (const [i, source] of databases.entries()) {
    const dir = mkdtempSync(join(work, `agent-${i + 1}-`));
    const db = join(dir, 'flows.duckdb');
    copyFileSync(source, db);
    const port = await freePort('tcp');
    const url = `http://127.0.0.1:${port}`;
    const child = startTracked(process.execPath, [AGENT_CLI, 'serve', '--db', db, '--listen', `127.0.0.1:${port}`, '--token', TOKEN, '--node', `agent-${i + 1}`, '--log-level', 'warn', ...extraArgs]);
    const output = collectOutput(child);
    agents.push(child);
    await waitHealthy(url, child, output.stderr);
    urls.push(url);
  }
  return urls;
}

export async function stopAgents(agents: ChildProcess[]): Promise<void> {
  await Promise.all(agents.map((a) => stopChild(a, 10_000)));
  agents.length = 0;
}

/**
 * Measures the queries over the first `counts` agents; with the URL of an agent holding every
 * record, also the estimate's parts (that agent, each agent alone, instant agents).
 */
async function drive(driver: string, urls: readonly string[], counts: readonly number[], runs: number, layout: FederationLayout, reference?: string): Promise<Measurement[]> {
  const run = await runTool(driver, [
    '-agents', urls.join(','), '-token', TOKEN, '-counts', counts.join(','), '-from', String(END_MS - DAY_MS), '-to', String(END_MS),
    '-runs', String(runs), '-queries', JSON.stringify(FEDERATION_QUERIES), ...(reference ? ['-reference', reference] : []),
  ], { timeoutS: 1200 });
  return (JSON.parse(run.stdout) as Omit<Measurement, 'layout'>[]).map((m) => ({ layout, ...m }));
}

/** Differences between two digests of the same query, as text ('' when equal). */
function digestDifference(a: Digest | undefined, b: Digest | undefined): string {
  if (!a || !b) return 'no answer to compare';
  const problems: string[] = [];
  const sameList = (x: readonly unknown[] = [], y: readonly unknown[] = []) => x.length === y.length && x.every((v, i) => v === y[i]);
  if (!sameList(a.top_rows, b.top_rows)) problems.push(`top rows differ: ${JSON.stringify(a.top_rows?.slice(0, 3))}... vs ${JSON.stringify(b.top_rows?.slice(0, 3))}...`);
  if ((a.top_total ?? 0) !== (b.top_total ?? 0)) problems.push(`top totals ${a.top_total} vs ${b.top_total}`);
  if (!sameList(a.times, b.times)) problems.push(`bucket times differ (${a.times?.length ?? 0} vs ${b.times?.length ?? 0} buckets)`);
  const sums = [a.bucket_sums ?? [], b.bucket_sums ?? []];
  const badBucket = sums[0].findIndex((v, i) => Math.abs(v - sums[1][i]) > 1e-9 * Math.max(1, Math.abs(v)));
  if (sums[0].length !== sums[1].length || badBucket >= 0) problems.push(`time-series sums differ (first at bucket ${badBucket}: ${sums[0][badBucket]} vs ${sums[1][badBucket]})`);
  if (!sameList(a.flows, b.flows)) problems.push(`flows page records differ (${a.flows?.length ?? 0} vs ${b.flows?.length ?? 0} records)`);
  return problems.join('; ');
}

/**
 * Split layout: each N agents' merged answers against the one agent holding every record,
 * and that one agent's (a share database rebuilt from the source) against the source's own
 * (full copy, one agent): the split loses or adds no record.
 */
function checkAgreement(measurements: readonly Measurement[]): Agreement[] {
  const answered = (layout: FederationLayout, mode: Mode) => measurements.filter((m) => m.layout === layout && m.mode === mode && !m.error);
  const split = answered('split', 'federated');
  const source = answered('full copy', 'federated');
  const out: Agreement[] = [];
  for (const m of split) {
    const reference = m.agents === 1 ? source.find((x) => x.query === m.query && x.agents === 1) : split.find((x) => x.query === m.query && x.agents === 1);
    const against = m.agents === 1 ? 'the source database' : 'one agent holding everything';
    const detail = digestDifference(reference?.digest, m.digest);
    out.push({ query: m.query, agents: m.agents, of: 'real agents', equal: detail === '', detail });
    if (detail) recordFailure('federation', `FEDERATION MISMATCH: ${m.query}, ${m.agents} agent(s) holding shares vs ${against}: ${detail}`);
  }
  for (const m of answered('split', 'instant agents')) {
    const detail = digestDifference(split.find((x) => x.query === m.query && x.agents === m.agents)?.digest, m.digest);
    out.push({ query: m.query, agents: m.agents, of: 'instant agents', equal: detail === '', detail });
    if (detail) recordFailure('federation', `FEDERATION MISMATCH: ${m.query}, ${m.agents} instant agent(s) replaying recorded replies vs the real agents: ${detail}`);
  }
  return out;
}

/** Per split agent count and query: slowest agent alone + federation with instant agents, against one agent in the same runs. */
function estimatesOf(measurements: readonly Measurement[]): Estimate[] {
  const split = measurements.filter((m) => m.layout === 'split' && !m.error);
  const out: Estimate[] = [];
  for (const instant of split.filter((m) => m.mode === 'instant agents')) {
    const same = (m: Measurement) => m.query === instant.query && m.agents === instant.agents;
    const alone = split.filter((m) => m.mode === 'alone' && same(m));
    const one = split.find((m) => m.mode === 'reference' && same(m));
    if (alone.length !== instant.agents || !one) continue;
    const slowest = alone.reduce((a, b) => (b.median_ms > a.median_ms ? b : a));
    const runs = Math.min(slowest.ms.length, instant.ms.length, one.ms.length);
    const estimate = Array.from({ length: runs }, (_, i) => slowest.ms[i] + instant.ms[i]);
    out.push({
      query: instant.query, agents: instant.agents, slowestAgent: slowest.agent ?? 0,
      slowestAlone: spread(slowest.ms), instant: spread(instant.ms), one: spread(one.ms), estimate: spread(estimate),
      ratioToOne: spread(estimate.map((e, i) => e / one.ms[i])),
    });
  }
  return out;
}

function ratiosOf(measurements: readonly Measurement[]): FederationResult['ratios'] {
  const ratios: FederationResult['ratios'] = [];
  for (const m of measurements) {
    if (m.mode !== 'federated' || m.error) continue;
    const one = measurements.find((x) => x.layout === m.layout && x.query === m.query && x.agents === 1 && x.mode === 'federated');
    const sequential = measurements.find((x) => x.layout === m.layout && x.query === m.query && x.agents === m.agents && x.mode === 'one at a time');
    if (one) ratios.push({ layout: m.layout, query: m.query, agents: m.agents, ratioToOne: m.median_ms / one.median_ms, ratioToSequential: sequential ? m.median_ms / sequential.median_ms : NaN });
  }
  return ratios;
}

export async function runFederation(quick: boolean, runs: number): Promise<FederationResult> {
  const counts = quick ? [1, 4] : [1, 4, 8];
  const records = quick ? 200_000 : 2_000_000;
  const result: FederationResult = { records, counts, runs, measurements: [], ratios: [], agreement: [], estimates: [] };
  if (!haveCommand('go') && !existsSync(GO)) {
    result.skipped = 'Go toolchain not found';
    recordSkip('federation', result.skipped);
    return result;
  }
  if (!existsSync(STORE_SCRIPT)) throw new Error(`${STORE_SCRIPT} is missing (agent store benchmark not built)`);
  log.step('federation: building the Go driver (bench/go)');
  const driver = join(GO_DRIVER_DIR, 'flowmesh-fedbench');
  await runTool(GO, ['build', '-o', driver, '.'], { cwd: GO_DRIVER_DIR, timeoutS: 600 });
  const source = await agentDatabase(records);
  const work = mkdtempSync(join(tmpdir(), 'flowmesh-bench-fed-'));
  const agents: ChildProcess[] = [];
  const referenceAgent: ChildProcess[] = [];
  try {
    const whole = await shareDatabases(source.db, source.marker, databaseCache(records, 'shares'), 1);
    const [reference] = await startAgents([whole[0].path], work, referenceAgent);
    for (const n of counts) {
      const shares = await shareDatabases(source.db, source.marker, databaseCache(records, 'shares'), n);
      const urls = await startAgents(shares.map((s) => s.path), work, agents);
      log.step(`federation (split): ${n} agent(s), ${shares.map((s) => s.records.toLocaleString('en')).join(' + ')} records`);
      result.measurements.push(...(await drive(driver, urls, [n], runs, 'split', reference)));
      await stopAgents(agents);
    }
    const maxAgents = Math.max(...counts);
    const urls = await startAgents(Array.from({ length: maxAgents }, () => source.db), work, agents);
    log.step(`federation (full copy): ${maxAgents} agents up; measuring ${counts.join(', ')} agents`);
    await stopAgents(referenceAgent);
    result.measurements.push(...(await drive(driver, urls, counts, runs, 'full copy')));
  } finally {
    await stopAgents(agents);
    await stopAgents(referenceAgent);
    rmSync(work, { recursive: true, force: true });
  }
  for (const m of result.measurements) if (m.error) recordFailure(`federation: ${m.query}, ${m.agents} agent(s), ${m.layout}, ${m.mode}`, m.error);
  result.ratios = ratiosOf(result.measurements);
  result.agreement = checkAgreement(result.measurements);
  result.estimates = estimatesOf(result.measurements);
  return result;
}

const ESTIMATE_LABEL = 'estimate: agents on separate machines (slowest agent alone + measured federation overhead)';

function layoutTable(f: FederationResult, layout: FederationLayout, title: string): string {
  const text = (m: Measurement | undefined) => (!m ? '–' : m.error ? `failed: ${m.error.slice(0, 60)}` : `${ms(m.median_ms)} (${ms(m.min_ms)}–${ms(m.max_ms)})`);
  const mine = f.measurements.filter((m) => m.layout === layout);
  const rows = mine.filter((m) => m.mode === 'federated').map((m) => {
    const r = f.ratios.find((x) => x.layout === layout && x.query === m.query && x.agents === m.agents);
    const sequential = mine.find((x) => x.query === m.query && x.agents === m.agents && x.mode === 'one at a time');
    const row: (string | number)[] = [m.query, m.agents, text(m), m.error ? '' : ms(m.p95_ms), r ? ratio(r.ratioToOne) : '–', m.agents > 1 ? text(sequential) : '', r && m.agents > 1 ? ratio(r.ratioToSequential) : ''];
    if (layout === 'split') {
      const a = f.agreement.find((x) => x.query === m.query && x.agents === m.agents && x.of === 'real agents');
      row.push(!a ? '–' : a.equal ? (m.agents === 1 ? 'equal (to the source database)' : 'equal') : `MISMATCH: ${a.detail.slice(0, 80)}`);
      const e = f.estimates.find((x) => x.query === m.query && x.agents === m.agents);
      row.push(e ? spreadText(e.estimate, ms) : '–', e ? spreadText(e.ratioToOne, ratio) : '–');
    }
    return row;
  });
  const columns = ['query', 'agents', 'measured, co-located: median (min–max)', 'p95', 'measured ratio to 1 agent', 'agents asked one at a time', 'federated / one at a time'];
  return formatTable(title, layout === 'split' ? [...columns, 'merged answer vs 1 agent holding all', ESTIMATE_LABEL, 'estimate: ratio to 1 agent (min–max)'] : columns, rows);
}

/** How each estimate is built: its two parts, and the instant agents' answers checked against the real ones. */
function estimateTable(f: FederationResult): string {
  const rows = f.estimates.map((e) => {
    const a = f.agreement.find((x) => x.query === e.query && x.agents === e.agents && x.of === 'instant agents');
    return [
      e.query, e.agents, `${spreadText(e.slowestAlone, ms)}, agent ${e.slowestAgent}`, spreadText(e.instant, ms), spreadText(e.estimate, ms), spreadText(e.one, ms), spreadText(e.ratioToOne, ratio),
      !a ? '–' : a.equal ? 'equal' : `MISMATCH: ${a.detail.slice(0, 80)}`,
    ];
  });
  return formatTable(
    `How the ${ESTIMATE_LABEL} is built (split layout, ${f.runs} runs each)`,
    ['query', 'agents', 'slowest agent alone: median (min–max)', 'federation with instant agents', 'estimate (run i: alone + instant)', '1 agent holding all, same runs', 'ratio (run i / run i)', 'instant agents\' merged answer vs real agents\''],
    rows,
  );
}

export function reportFederation(f: FederationResult): string {
  if (f.skipped) return `\n### Federation\n\nskipped: ${f.skipped}\n`;
  const mismatches = f.agreement.filter((a) => !a.equal);
  return (
    layoutTable(f, 'split', `Federation as deployed: ${f.records.toLocaleString('en')} records split across the agents (each holds 1/N), through the plugin backend, ${f.runs} runs`) +
    (mismatches.length
      ? `\n**MISMATCH**: ${mismatches.length} merged answer(s) differ from their reference: ${mismatches.map((m) => `${m.query} (${m.agents} ${m.of}): ${m.detail}`).join('; ')}.\n`
      : `\nEvery merged answer of the split agents equals one agent's holding all records (top rows and total, time-series bucket sums, the flows page's records), that agent's equals the source database's, and the instant agents' equal the real agents': ${f.agreement.length} comparisons.\n`) +
    estimateTable(f) +
    '\nThe estimate takes the agents\' query work out of the co-located figure: each agent of the split is asked alone (one at a time, nothing else running), and the slowest one\'s time is what a fan-out to separate machines waits for at least; ' +
    'to it is added the federated query over in-process servers that replay each agent\'s recorded HTTP reply at once (fan-out, HTTP, JSON decoding, exact merge; frames are built by neither). ' +
    'Each run asks one agent holding everything, every agent alone and the instant agents in turn, so a run\'s parts and its ratio see the same load. ' +
    'Both parts go through the plugin path for one agent\'s reply, so the sum counts that once too often: the 1-agent row (estimate over measured) shows how much the estimate overstates.\n' +
    layoutTable(f, 'full copy', `Federation, full copy: every agent serves its own copy of all ${f.records.toLocaleString('en')} records (N times the work), ${f.runs} runs`) +
    `\nAll agents run on this machine's ${cpus().length} cores with the driver. Split, measured: the ratio to one agent is fan-out, N smaller queries and the exact merge, plus the queueing of N co-located agents on these cores. ` +
    'Full copy: N agents do N times the query work on the same cores, so its ratio is mostly CPU contention that agents on their own nodes do not have. ' +
    '"One at a time" asks each agent alone in turn through the same backend code; federated / one at a time below 1 is what the parallel fan-out saves.\n'
  );
}
