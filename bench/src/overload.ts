/**
 * Overload and slow clients: one real agent (`flowmesh-agent serve`, every HTTP limit at its
 * default) over the store benchmark's database (the federation section's, cached), driven by
 * load generators in their own processes (workers/load-worker.ts) on loopback:
 *
 * - useful throughput: answers (HTTP 200) per second of a mixed query load (top 10 sources,
 *   1-minute time series and summary over 24 h, a filtered flows page) from N keep-alive
 *   connections of one client in a closed loop with no think time, refusals (429) not waited
 *   out; the share of the peak that 256 connections keep is the figure to watch (target
 *   ≥ 80 %). Beside it, the same load on a second agent configured to refuse at once when a
 *   short queue is full (`max_queued_queries: 16`, what the agent did before), so the effect
 *   of waiting instead of refusing is measured in the same conditions. The connection counts
 *   and both agents are measured in interleaved rounds (every N on each agent once per
 *   round), so load from whatever else shares the machine falls on all of them alike;
 * - a separate client (another source address) asking 24 queries one after the other while
 *   the 256 connections run, and while 1,100 connections without a token stall their bodies:
 *   how many it gets answered, and how fast;
 * - slow clients: when the agent closed the 1,100 stalled connections (and, in the full run,
 *   200 connections whose headers never finish).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { DAY_MS, END_MS, TOKEN, agentDatabase, startAgents, stopAgents } from './federation';
import { log } from './log';
import { runTool } from './proc';
import { percentile, spread, type Spread } from './stats';
import { formatTable, ms, pct, spreadText } from './table';

const LOAD_WORKER = join(__dirname, 'workers/load-worker.js');
const FROM = END_MS - DAY_MS;

const MIXED_QUERIES = [
  { kind: 'top', from: FROM, to: END_MS, group_by: ['src_ip'], metric: 'bytes', limit: 10 },
  { kind: 'timeseries', from: FROM, to: END_MS, interval_ms: 60_000, metric: 'bytes' },
  {
    kind: 'flows', from: FROM, to: END_MS, limit: 100,
    filters: [{ field: 'protocol', op: 'eq', value: 'tcp' }, { field: 'bytes', op: 'gt', value: 10000 }],
  },
  { kind: 'summary', from: FROM, to: END_MS },
];
const SEPARATE_QUERY = { kind: 'top', from: FROM, to: END_MS, group_by: ['dst_port'], metric: 'bytes', limit: 10 };
const SEPARATE_CLIENT = '127.0.0.2';
/** The comparison agent's queue: it refuses at once when this many wait (the agent's behaviour before it queued). */
const REFUSING_QUEUE = 16;

interface LoopResult {
  statuses: Record<string, number>;
  okMs: number[];
  seconds: number;
}
interface SequentialResult {
  statuses: Record<string, number>;
  okMs: number[];
}
interface SlowResult {
  answers: Record<string, number>;
  closedAfterMs: number[];
  stillOpen: number;
}

export interface ThroughputRow {
  connections: number;
  /** Over the rounds. */
  answersPerS: Spread;
  /** The same load on the agent that refuses at once when its short queue is full, over the rounds. */
  refusingAnswersPerS: Spread;
  /** The rest is of the first round. */
  refusedPerS: number;
  /** Anything else (timeouts, errors), per second. */
  otherPerS: number;
  /** Every answer by HTTP status or error code. */
  statuses: Record<string, number>;
  /** The agent's connection counters after the run (flowmesh_api_connections_{refused,closed}_total). */
  agentCounters: Record<string, number>;
  p50Ms: number;
  p95Ms: number;
}

export interface SeparateClient {
  during: string;
  asked: number;
  answered: number;
  statuses: Record<string, number>;
  medianMs: number;
  maxMs: number;
}

export interface SlowRow {
  what: string;
  connections: number;
  answers: Record<string, number>;
  closedMedianMs: number;
  closedMaxMs: number;
  stillOpen: number;
}

export interface OverloadResult {
  records: number;
  seconds: number;
  rounds: number;
  throughput: ThroughputRow[];
  separate: SeparateClient[];
  slow: SlowRow[];
}

/** The agent's connection counters, by metric and reason. */
async function connectionCounters(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counters: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^flowmesh_api_connections_(refused|closed)_total\{reason="([^"]+)"\} (\d+)/.exec(line);
    if (m) counters[`${m[1]} ${m[2]}`] = Number(m[3]);
  }
  return counters;
}

async function worker<T>(job: Record<string, unknown>, timeoutS: number): Promise<T> {
  const run = await runTool(process.execPath, [LOAD_WORKER, JSON.stringify(job)], { timeoutS });
  return JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as T;
}

function separateFrom(during: string, result: SequentialResult, asked: number): SeparateClient {
  return {
    during, asked, answered: result.statuses['200'] ?? 0, statuses: result.statuses,
    medianMs: percentile(result.okMs, 50), maxMs: percentile(result.okMs, 100),
  };
}

export async function runOverload(quick: boolean): Promise<OverloadResult> {
  const records = quick ? 200_000 : 2_000_000;
  const seconds = quick ? 4 : 10;
  const rounds = quick ? 1 : 3;
  const connectionCounts = quick ? [8, 256] : [1, 8, 32, 256];
  const source = await agentDatabase(records);
  const work = mkdtempSync(join(tmpdir(), 'flowmesh-bench-overload-'));
  const agents: ChildProcess[] = [];
  const result: OverloadResult = { records, seconds, rounds, throughput: [], separate: [], slow: [] };
  try {
    const [url] = await startAgents([source.db], work, agents);
    const refusingConfig = join(work, 'refusing.json');
    writeFileSync(refusingConfig, JSON.stringify({ http: { max_queued_queries: REFUSING_QUEUE } }));
    const [refusingUrl] = await startAgents([source.db], work, agents, ['--config', refusingConfig]);
    const target = { url, token: TOKEN };
    for (const warm of [url, refusingUrl]) {
      await worker({ kind: 'loop', url: warm, token: TOKEN, connections: 4, seconds: 1, queries: MIXED_QUERIES }, 60);
    }
    const answers = new Map<number, number[]>(connectionCounts.map((n) => [n, []]));
    const refusing = new Map<number, number[]>(connectionCounts.map((n) => [n, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const connections of connectionCounts) {
        log.step(`overload round ${round}/${rounds}: ${connections} connection(s), mixed queries, ${seconds} s, refusing agent`);
        const refused = await worker<LoopResult>({ kind: 'loop', url: refusingUrl, token: TOKEN, connections, seconds, queries: MIXED_QUERIES }, seconds + 120);
        refusing.get(connections)!.push((refused.statuses['200'] ?? 0) / refused.seconds);
        log.step(`overload round ${round}/${rounds}: ${connections} connection(s), mixed queries, ${seconds} s`);
        const loop = worker<LoopResult>({ kind: 'loop', ...target, connections, seconds, queries: MIXED_QUERIES }, seconds + 120);
        const separate = connections === 256 && round === 1
          ? worker<SequentialResult>({ kind: 'sequential', ...target, localAddress: SEPARATE_CLIENT, count: 24, query: SEPARATE_QUERY }, seconds + 120)
          : undefined;
        const done = await loop;
        answers.get(connections)!.push((done.statuses['200'] ?? 0) / done.seconds);
        if (separate) result.separate.push(separateFrom(`${connections} connections of another client`, await separate, 24));
        if (round > 1) continue;
        const other = Object.entries(done.statuses).filter(([s]) => s !== '200' && s !== '429').reduce((t, [, n]) => t + n, 0);
        result.throughput.push({
          connections,
          answersPerS: spread([]),
          refusingAnswersPerS: spread([]),
          refusedPerS: (done.statuses['429'] ?? 0) / done.seconds,
          otherPerS: other / done.seconds,
          statuses: done.statuses,
          agentCounters: await connectionCounters(url),
          p50Ms: percentile(done.okMs, 50),
          p95Ms: percentile(done.okMs, 95),
        });
      }
    }
    for (const row of result.throughput) {
      row.answersPerS = spread(answers.get(row.connections)!);
      row.refusingAnswersPerS = spread(refusing.get(row.connections)!);
    }

    log.step('overload: 1,100 connections without a token stalling their bodies');
    const stalled = worker<SlowResult>({ kind: 'slow', ...target, connections: 1100, seconds: 30, stall: 'body' }, 120);
    const during = await worker<SequentialResult>({ kind: 'sequential', ...target, localAddress: SEPARATE_CLIENT, count: 24, query: SEPARATE_QUERY }, 120);
    const slowBodies = await stalled;
    result.separate.push(separateFrom('1,100 stalled connections without a token', during, 24));
    result.slow.push(slowRow('no token, body never finished', 1100, slowBodies));
    if (!quick) {
      log.step('overload: 200 connections whose headers never finish');
      result.slow.push(slowRow('headers never finished', 200,
        await worker<SlowResult>({ kind: 'slow', ...target, connections: 200, seconds: 60, stall: 'headers' }, 180)));
    }
  } finally {
    await stopAgents(agents);
    rmSync(work, { recursive: true, force: true });
  }
  return result;
}

function slowRow(what: string, connections: number, r: SlowResult): SlowRow {
  return {
    what, connections, answers: r.answers, stillOpen: r.stillOpen,
    closedMedianMs: percentile(r.closedAfterMs, 50), closedMaxMs: percentile(r.closedAfterMs, 100),
  };
}

const tally = (statuses: Record<string, number>) =>
  Object.entries(statuses).map(([status, n]) => `${n}× ${status}`).join(', ');

export function reportOverload(o: OverloadResult): string {
  const peak = Math.max(...o.throughput.map((t) => t.answersPerS.median));
  const at256 = o.throughput.find((t) => t.connections === 256);
  const throughput = formatTable(
    `Overload: useful throughput of one agent (${o.records.toLocaleString('en')} records, mixed queries, closed loop, ${o.seconds} s each, ` +
      `429 not waited out; median (min–max) of ${o.rounds} interleaved round(s), the other columns of the first)`,
    ['connections', 'answers/s', 'of the peak', 'refused (429)/s', 'other failures/s', 'answer p50', 'answer p95', 'all answers',
      `answers/s refusing at once (queue ${REFUSING_QUEUE})`],
    o.throughput.map((t) => [t.connections, spreadText(t.answersPerS, (n) => n.toFixed(1)), pct(t.answersPerS.median / peak, 0),
      t.refusedPerS.toFixed(1), t.otherPerS.toFixed(1), ms(t.p50Ms), ms(t.p95Ms), tally(t.statuses),
      spreadText(t.refusingAnswersPerS, (n) => n.toFixed(1))]),
  );
  const target = at256
    ? `\n256 connections keep ${pct(at256.answersPerS.median / peak, 0)} of the peak useful throughput (target ≥ 80 %: ` +
      `${at256.answersPerS.median >= 0.8 * peak ? 'met' : 'NOT met'}).\n`
    : '';
  const separate = formatTable(
    'A separate client (another address) asking 24 queries one after the other',
    ['while', 'answered', 'statuses', 'median', 'slowest'],
    o.separate.map((s) => [s.during, `${s.answered} of ${s.asked}`, tally(s.statuses), ms(s.medianMs), ms(s.maxMs)]),
  );
  const slow = formatTable(
    'Slow clients: when the agent closed them (defaults: http.header_timeout_ms 10 s, request_timeout_ms 30 s)',
    ['clients', 'connections', 'what they got', 'closed after (median)', 'closed after (last)', 'still open when we gave up'],
    o.slow.map((s) => [s.what, s.connections, tally(s.answers), ms(s.closedMedianMs), ms(s.closedMaxMs), s.stillOpen]),
  );
  return throughput + target + separate + slow;
}
