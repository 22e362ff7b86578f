/**
 * Metrics on a running agent: counters fed by records written through the service's sink
 * equal the ground truth, scrape-time figures come from their providers, the peer label is
 * bounded, and `promtool check metrics` accepts a real scrape.
 */
import { spawnSync } from 'node:child_process';
import type { FlowRecord } from '../src/model/flow';
import { AgentMetrics, OTHER_PEER } from '../src/metrics';
import { call, makeRecords, startTestAgent, type TestAgent } from './http-fixture';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough for our own output: escaped label values, no timestamps). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const labelText = match[2] ?? '';
    for (const label of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

const sum = (samples: Sample[], name: string, where: (labels: Record<string, string>) => boolean = () => true) =>
  samples.filter((s) => s.name === name && where(s.labels)).reduce((total, s) => total + s.value, 0);

function expectedPeer(record: FlowRecord): string {
  const name = record.direction === 'inbound' ? record.src_name : record.dst_name || record.src_name;
  return name || OTHER_PEER;
}

describe('metrics on a running agent', () => {
  let agent: TestAgent;
  let samples: Sample[];
  let body: string;
  const records = makeRecords(600, 7);

  beforeAll(async () => {
    agent = await startTestAgent(records, {
      providers: {
        capture: { captureStats: () => [{ interface: 'wg0', received: 123456, kernelDrops: 7, ifDrops: 3 }] },
        decode: { decodeErrors: () => ({ truncated_ipv4: 5, unsupported_linktype: 2 }) },
        flowTable: { flowTableStats: () => ({ activeFlows: 42, evictions: 9 }) },
        nat: { natStats: () => ({ connections: 17, evicted: 2, lines: 31, overruns: 1, running: true }) },
      },
    });
    await call(agent, 'GET', '/health'); // one request so the API histogram has a sample
    const scrape = await call(agent, 'GET', '/metrics', undefined, {});
    expect(scrape.status).toBe(200);
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    body = scrape.text;
    samples = parseExposition(body);
  });
  afterAll(() => agent?.close());

  test('promtool check metrics accepts the scrape', () => {
    const result = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 20_000 });
    expect(result.error).toBeUndefined();
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: '' });
  });

  test('traffic counters equal the records fed, per direction, protocol and peer', () => {
    const expected = new Map<string, { bytes: number; packets: number }>();
    for (const r of records) {
      const key = JSON.stringify([r.direction, r.protocol, expectedPeer(r)]);
      const entry = expected.get(key) ?? { bytes: 0, packets: 0 };
      entry.bytes += r.bytes_tx + r.bytes_rx;
      entry.packets += r.packets_tx + r.packets_rx;
      expected.set(key, entry);
    }
    const actual = new Map<string, { bytes: number; packets: number }>();
    for (const s of samples.filter((x) => x.name === 'flowmesh_traffic_bytes_total' || x.name === 'flowmesh_traffic_packets_total')) {
      const key = JSON.stringify([s.labels.direction, s.labels.protocol, s.labels.peer]);
      const entry = actual.get(key) ?? { bytes: 0, packets: 0 };
      if (s.name === 'flowmesh_traffic_bytes_total') entry.bytes += s.value;
      else entry.packets += s.value;
      actual.set(key, entry);
    }
    expect(actual).toEqual(expected);
    // the names that need escaping survived the exposition format
    expect([...actual.keys()].some((k) => k.includes('multi\\nline'))).toBe(true);
    expect([...actual.keys()].some((k) => k.includes('laptop \\"x\\"'))).toBe(true);
  });

  test('flow counters: started = records with seq 0, ended = final records by reason', () => {
    expect(sum(samples, 'flowmesh_flows_started_total')).toBe(records.filter((r) => r.seq === 0).length);
    for (const reason of ['idle_timeout', 'tcp_close', 'tcp_reset', 'evicted', 'shutdown']) {
      expect(sum(samples, 'flowmesh_flows_ended_total', (l) => l.reason === reason)).toBe(
        records.filter((r) => r.record_kind === 'final' && r.end_reason === reason).length,
      );
    }
    expect(sum(samples, 'flowmesh_flows_ended_total', (l) => l.reason === 'active_timeout')).toBe(0);
  });

  test('scrape-time figures come from their owners', () => {
    expect(sum(samples, 'flowmesh_capture_packets_total', (l) => l.interface === 'wg0')).toBe(123456);
    expect(sum(samples, 'flowmesh_capture_kernel_drops_total')).toBe(7);
    expect(sum(samples, 'flowmesh_capture_interface_drops_total')).toBe(3);
    expect(sum(samples, 'flowmesh_decode_errors_total', (l) => l.reason === 'truncated_ipv4')).toBe(5);
    expect(sum(samples, 'flowmesh_flow_table_flows')).toBe(42);
    expect(sum(samples, 'flowmesh_flow_table_evictions_total')).toBe(9);
    expect(sum(samples, 'flowmesh_store_rows_written_total')).toBe(records.length);
    expect(sum(samples, 'flowmesh_store_backlog_records')).toBe(0);
    expect(sum(samples, 'flowmesh_store_backlog_dropped_total')).toBe(0);
    expect(sum(samples, 'flowmesh_store_db_bytes')).toBeGreaterThan(0);
    expect(sum(samples, 'flowmesh_store_batch_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sum(samples, 'flowmesh_store_errors_total')).toBe(0);
    expect(['connections', 'nat_evictions_total', 'conntrack_events_total', 'conntrack_overruns_total', 'conntrack_up'].map((n) => sum(samples, n === 'connections' ? 'flowmesh_nat_connections' : `flowmesh_${n}`)))
      .toEqual([17, 2, 31, 1, 1]);
  });

  test('API durations are labelled by route pattern, method and status; process metrics present', () => {
    expect(sum(samples, 'flowmesh_api_request_duration_seconds_count', (l) => l.route === '/health' && l.method === 'GET' && l.status === '200')).toBe(1);
    expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes')).toBe(true);
  });

  test('/metrics needs the token when metrics_auth is on', async () => {
    const guarded = await startTestAgent([], { http: { metrics_auth: true } });
    try {
      expect((await call(guarded, 'GET', '/metrics', undefined, {})).status).toBe(401);
      expect((await call(guarded, 'GET', '/metrics')).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe('peer label cardinality', () => {
  test('beyond maxPeerLabels new names count as other, and totals still match', async () => {
    const metrics = new AgentMetrics({ maxPeerLabels: 3, processMetrics: false });
    const records = makeRecords(300, 11).map((r, i) => ({ ...r, direction: 'outbound' as const, dst_name: `peer-${i % 10}` }));
    for (const r of records) metrics.observeRecord(r);
    const samples = parseExposition((await metrics.scrape()).body);
    const peers = new Set(samples.filter((s) => s.name === 'flowmesh_traffic_bytes_total').map((s) => s.labels.peer));
    expect([...peers].sort()).toEqual(['other', 'peer-0', 'peer-1', 'peer-2']);
    expect(sum(samples, 'flowmesh_traffic_bytes_total')).toBe(records.reduce((t, r) => t + r.bytes_tx + r.bytes_rx, 0));
    expect(sum(samples, 'flowmesh_traffic_bytes_total', (l) => l.peer === 'peer-0')).toBe(
      records.filter((r) => r.dst_name === 'peer-0').reduce((t, r) => t + r.bytes_tx + r.bytes_rx, 0),
    );
  });
});

describe('record-fed counters between scrapes', () => {
  test('each scrape reports the running totals: repeated scrapes agree, later records add on', async () => {
    const metrics = new AgentMetrics({ processMetrics: false });
    const records = makeRecords(400, 13);
    const totals = (part: FlowRecord[]) => ({
      bytes: part.reduce((t, r) => t + r.bytes_tx + r.bytes_rx, 0),
      packets: part.reduce((t, r) => t + r.packets_tx + r.packets_rx, 0),
      started: part.filter((r) => r.seq === 0).length,
      ended: part.filter((r) => r.record_kind === 'final').length,
    });
    const scraped = async () => {
      const samples = parseExposition((await metrics.scrape()).body);
      return {
        bytes: sum(samples, 'flowmesh_traffic_bytes_total'),
        packets: sum(samples, 'flowmesh_traffic_packets_total'),
        started: sum(samples, 'flowmesh_flows_started_total'),
        ended: sum(samples, 'flowmesh_flows_ended_total'),
      };
    };
    for (const r of records.slice(0, 150)) metrics.observeRecord(r);
    expect(await scraped()).toEqual(totals(records.slice(0, 150)));
    expect(await scraped()).toEqual(totals(records.slice(0, 150)));
    for (const r of records.slice(150)) metrics.observeRecord(r);
    expect(await scraped()).toEqual(totals(records));
    expect(totals(records).ended).toBeGreaterThan(0);
  });
});
