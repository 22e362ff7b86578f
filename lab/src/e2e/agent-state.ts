/**
 * What an operator reads straight from each agent, for end-to-end checks: its Prometheus
 * metrics (text exposition format, as prom-client writes it) and its own summary of what it
 * stored. Also the "settled" test: every flow has left the flow table and every record is in
 * the store, so totals stop moving and can be compared exactly.
 */
import type { MeshAgent } from '../mesh-agents';
import { sleep } from '../run';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition format (version 0.0.4): one sample per non-comment line. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: "${line}"`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL_PAIR)) {
      labels[key] = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of every sample of `name` (all label combinations). */
export function sumOf(samples: readonly Sample[], name: string): number {
  return samples.filter((s) => s.name === name).reduce((acc, s) => acc + s.value, 0);
}

export async function scrapeMetrics(agent: MeshAgent): Promise<Sample[]> {
  const res = await fetch(`${agent.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${agent.url}/metrics: HTTP ${res.status}`);
  return parsePrometheusText(await res.text());
}

/** The agent's summary of what it stored since `sinceMs` (the `summary` query, asked directly; 0 = all time). */
export interface AgentSummary {
  total: { bytes: number; packets: number; flows: number };
  records: number;
}

export async function agentSummary(agent: MeshAgent, token: string, sinceMs = 0): Promise<AgentSummary> {
  const res = await fetch(`${agent.url}/api/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'summary', from: sinceMs, to: Date.now() + 3_600_000 }),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`summary from ${agent.member.name}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as AgentSummary;
}

/** One agent's counters next to its stored totals. */
export interface AgentTally {
  node: string;
  metrics: Sample[];
  summary: AgentSummary;
}

/**
 * Settled: no packet arrived since the previous look (capture delivers packets in batches,
 * so a connection that just ended may not have reached the agent yet), nothing left in the
 * flow table, nothing waiting to be written, and the store holds every record written
 * (summary record count = flowmesh_store_rows_written_total). The count covers records that
 * started since `sinceMs`: stores hold nothing else from before, except history imported
 * before the agents started. Traffic must have stopped; returns when every agent is settled
 * (bounded).
 */
export async function waitUntilSettled(agents: readonly MeshAgent[], token: string, sinceMs = 0, timeoutMs = 30_000): Promise<AgentTally[]> {
  const deadline = Date.now() + timeoutMs;
  let unsettled: string[] = [];
  const packetsBefore = new Map<string, number>();
  while (Date.now() < deadline) {
    const tallies = await Promise.all(
      agents.map(async (a): Promise<AgentTally> => ({ node: a.member.name, metrics: await scrapeMetrics(a), summary: await agentSummary(a, token, sinceMs) })),
    );
    unsettled = tallies.flatMap((t) => {
      const packets = sumOf(t.metrics, 'flowmesh_capture_packets_total');
      const arriving = packetsBefore.get(t.node) !== packets;
      packetsBefore.set(t.node, packets);
      const inTable = sumOf(t.metrics, 'flowmesh_flow_table_flows');
      const backlog = sumOf(t.metrics, 'flowmesh_store_backlog_records');
      const written = sumOf(t.metrics, 'flowmesh_store_rows_written_total');
      return !arriving && inTable === 0 && backlog === 0 && written === t.summary.records
        ? []
        : [`${t.node}: ${arriving ? 'packets still arriving, ' : ''}${inTable} flows in the table, ${backlog} records waiting, ${written} written vs ${t.summary.records} stored`];
    });
    if (unsettled.length === 0) return tallies;
    await sleep(250);
  }
  throw new Error(`agents not settled within ${timeoutMs} ms: ${unsettled.join('; ')}`);
}
