/**
 * The query engine against an oracle: every query kind and filter computed by the engine on
 * a real DuckDB file (through the real FlowStore) must equal the same computation done in
 * plain TypeScript over the records written. Each query runs twice: rollups off (raw rows
 * only) and rollups forced on (rollupMinRangeMs 0), with part of the data not yet rolled up,
 * so both paths and the watermark split are checked against the same truth.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { FlowRecord } from '../src/model/flow';
import type { Filter, Query } from '../src/model/query';
import { generateFlowRecords } from '../src/bench/flow-records';
import { FlowStore } from '../src/store';
import { QueryEngine, QueryInputError, RowBudgetError } from '../src/query';
import { flowsOracle, oracle } from './query-oracle';

const MINUTE_MS = 60_000;
const T0_MS = Date.UTC(2026, 0, 5, 10, 0, 0) + 17_123; // deliberately not minute aligned
const SPAN_MS = 3 * 3600_000;

let dir: string;
let store: FlowStore;
let raw: QueryEngine;
let rolled: QueryEngine;
let records: FlowRecord[];

function buildRecords(): FlowRecord[] {
  const generated = [...generateFlowRecords({ seed: 7, count: 12_000, startUs: T0_MS * 1000, spanUs: SPAN_MS * 1000 })];
  // A capture imported twice: exact duplicates (same flow ids, same times).
  const duplicates = generated.slice(500, 560).map((r) => ({ ...r }));
  // Several records sharing one start time, including one flow id with several seqs.
  const sameStart = generated[3000].start_us;
  const ties = [0, 1, 2, 3, 4].map((i) => ({ ...generated[3001], flow_id: `tie-${i % 3}`, seq: i, start_us: sameStart, end_us: sameStart + i }));
  return [...generated, ...duplicates, ...ties];
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-query-'));
  store = await FlowStore.open({
    path: path.join(dir, 'flows.duckdb'), logger: pino({ level: 'warn' }),
    rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000, flushIntervalMs: 3_600_000,
  });
  records = buildRecords();
  const firstPart = Math.floor(records.length * 0.6);
  for (const r of records.slice(0, firstPart)) store.write(r);
  await store.flush();
  expect(await store.rollUp()).toBe(firstPart);
  await store.compactRollups();
  for (const r of records.slice(firstPart)) store.write(r);
  await store.flush(); // the rest stays raw-only: the engine must read it past the watermark
  raw = new QueryEngine(store.instance, { rollups: 'off' });
  rolled = new QueryEngine(store.instance, { rollups: 'auto', rollupMinRangeMs: 0 });
});

afterAll(async () => {
  raw?.close();
  rolled?.close();
  await store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const whole = () => ({ from: T0_MS - 3600_000, to: T0_MS + SPAN_MS + 3600_000 });
/** Edges inside minutes, so the rollup path needs raw edges. */
const partial = () => ({ from: T0_MS + 23 * MINUTE_MS + 789, to: T0_MS + 133 * MINUTE_MS + 1 });

async function bothMatchOracle(query: Query) {
  const expected = oracle(query, records);
  expect(await raw.run(query)).toEqual(expected);
  expect(await rolled.run(query)).toEqual(expected);
}

afterAll(() => {
  // The comparison is only worth something if both paths really ran.
  expect(raw.plans.rollup).toBe(0);
  expect(rolled.plans.rollup).toBeGreaterThan(50);
  expect(rolled.plans.raw).toBeGreaterThan(5); // src_port, flow_id, numeric/flag filters, 45 s buckets
});

const FILTERS: Filter[] = [
  { field: 'src_ip', op: 'eq', value: '100.64.0.3' },
  { field: 'ip', op: 'eq', value: 'fd7a:115c:a1e0::3' },
  { field: 'ip', op: 'eq', value: 'FD7A:115C:A1E0:0:0:0:0:3' },
  { field: 'dst_ip', op: 'neq', value: '100.64.0.1' },
  { field: 'ip', op: 'nin', values: ['100.64.0.1', '100.64.0.2', '2001:db8:3::1'] },
  { field: 'node', op: 'in', values: ['node-b'] },
  { field: 'direction', op: 'in', values: ['inbound', 'forwarded'] },
  { field: 'direction', op: 'eq', value: 'sideways' },
  { field: 'dst_port', op: 'in', values: [443, '22', 5432] },
  { field: 'conn_state', op: 'eq', value: 'SF' },
  { field: 'conn_state', op: 'neq', value: 'SF' },
  { field: 'conn_state', op: 'nin', values: ['S0', 'REJ'] },
  { field: 'name', op: 'eq', value: 'node-3' },
  { field: 'type', op: 'in', values: ['user', 'egress'] },
  { field: 'type', op: 'neq', value: 'external' },
  { field: 'port', op: 'eq', value: 443 },
  { field: 'port', op: 'range', min: 1000, max: 2000 },
  { field: 'dst_port', op: 'range', min: 0, max: 100 },
  { field: 'src_ip', op: 'cidr', value: '100.64.0.0/24' },
  { field: 'ip', op: 'cidr', value: '2001:db8::/32' },
  { field: 'dst_ip', op: 'not_cidr', value: '203.0.113.0/24' },
  { field: 'ip', op: 'cidr', value: '100.64.1.5' },
  { field: 'ip', op: 'cidr', value: 'fd7a:115c:a1e0::7' },
  { field: 'ip', op: 'cidr', value: '::ffff:0:0/96' },
  { field: 'ip', op: 'not_cidr', value: '100.64.0.0/16' },
  { field: 'bytes', op: 'gt', value: 100_000 },
  { field: 'duration_ms', op: 'lte', value: 5000 },
  { field: 'packets_tx', op: 'eq', value: 1 },
  { field: 'icmp_type', op: 'eq', value: 8 },
  { field: 'icmp_code', op: 'neq', value: 3 },
  { field: 'bytes_rx', op: 'lt', value: 1000 },
  { field: 'packets', op: 'gte', value: 200 },
  { field: 'tcp_flags_src', op: 'has_all', flags: ['SYN', 'FIN'] },
  { field: 'tcp_flags_dst', op: 'has_any', flags: ['RST'] },
  { field: 'tcp_flags', op: 'has_none', flags: ['ACK'] },
  { field: 'text', op: 'contains', value: 'EXAMPLE' },
  { field: 'text', op: 'contains', value: 'node-1' },
  { field: 'text', op: 'contains', value: '203.0.11' },
  { field: 'protocol', op: 'eq', value: 'icmpv6' },
  { field: 'ip_version', op: 'eq', value: 6 },
  { field: 'record_kind', op: 'eq', value: 'interim' },
  { field: 'end_reason', op: 'in', values: ['tcp_reset', 'idle_timeout'] },
  { field: 'flow_id', op: 'eq', value: 'tie-1' },
  { field: 'icmp_id', op: 'lt', value: 30_000 },
  { field: 'handshake_us', op: 'gt', value: 40_000 },
  { field: 'handshake_us', op: 'gte', value: 0 },
  { field: 'tcp_synack_us', op: 'lte', value: 10_000 },
  { field: 'tcp_ack_us', op: 'gt', value: 1000 },
  { field: 'dns_rtt_us', op: 'gte', value: 25_000 },
];

describe('filters (summary over each, raw and rollup paths)', () => {
  test.each(FILTERS.map((f) => [JSON.stringify(f), f] as const))('%s', async (_name, filter) => {
    await bothMatchOracle({ kind: 'summary', ...partial(), filters: [filter] });
  });

  test('every filter selects something and excludes something (the data exercises it)', () => {
    for (const filter of FILTERS.filter((f) => (f as { value?: unknown }).value !== 'sideways')) {
      const s = oracle({ kind: 'summary', ...whole(), filters: [filter] }, records) as { records: number };
      expect([JSON.stringify(filter), s.records > 0 && s.records < records.length]).toEqual([JSON.stringify(filter), true]);
    }
  });

  test('filters combine with AND', async () => {
    await bothMatchOracle({
      kind: 'top', ...whole(), group_by: ['src_ip'], limit: 0,
      filters: [{ field: 'protocol', op: 'eq', value: 'tcp' }, { field: 'ip', op: 'cidr', value: '100.64.0.0/16' }, { field: 'text', op: 'contains', value: 'user' }],
    });
  });
});

describe('top', () => {
  const cases: [string, Partial<Query>][] = [
    ['src_ip by bytes', { group_by: ['src_ip'] }],
    ['pair by packets, 5', { group_by: ['src_ip', 'dst_ip'], metric: 'packets', limit: 5 }],
    ['dst_port flows, all', { group_by: ['dst_port'], metric: 'flows', limit: 0 }],
    ['direction/protocol/conn_state with NULLs, all', { group_by: ['direction', 'protocol', 'conn_state'], limit: 0 }],
    ['4 dims', { group_by: ['node', 'interface', 'src_type', 'dst_type'], metric: 'bytes_rx', limit: 7 }],
    ['src_port (raw only)', { group_by: ['src_port'], metric: 'packets_tx', limit: 3 }],
    ['community_id', { group_by: ['community_id'], limit: 3 }],
    ['names', { group_by: ['src_name', 'dst_name'], metric: 'bytes_tx', limit: 12 }],
    ['ip_version', { group_by: ['ip_version'], metric: 'packets_rx' }],
    // What connection dedupe asks: 4 user dimensions plus community_id and direction.
    ['4 dims + connection dims', { group_by: ['community_id', 'direction', 'src_name', 'src_ip', 'dst_name', 'dst_ip'], limit: 0 }],
    // latency: averages from sums and counts, maxima as maxima (also in "other")
    ['dst_ip by average handshake, 5', { group_by: ['dst_ip'], metric: 'handshake_us_avg', limit: 5 }],
    ['dst_port by slowest handshake, 4', { group_by: ['dst_port'], metric: 'handshake_us_max', limit: 4 }],
    ['node by SYN/ACK leg', { group_by: ['node'], metric: 'synack_us_avg', limit: 1 }],
    ['src_ip by ACK leg, 3', { group_by: ['src_ip'], metric: 'ack_us_avg', limit: 3 }],
    ['dst_ip by DNS response time, 2', { group_by: ['dst_ip'], metric: 'dns_rtt_us_avg', limit: 2 }],
    ['dst_ip by slowest DNS response, 2', { group_by: ['dst_ip'], metric: 'dns_rtt_us_max', limit: 2 }],
    ['direction by handshakes measured', { group_by: ['direction'], metric: 'handshakes', limit: 0 }],
  ];
  test.each(cases)('%s', async (_name, extra) => {
    await bothMatchOracle({ kind: 'top', ...whole(), ...extra } as Query);
    await bothMatchOracle({ kind: 'top', ...partial(), ...extra } as Query);
  });

  test('empty range gives zero totals and no rows', async () => {
    await bothMatchOracle({ kind: 'top', from: T0_MS - 7200_000, to: T0_MS - 3600_000, group_by: ['src_ip'] });
  });
});

describe('timeseries', () => {
  const cases: [string, Partial<Query>][] = [
    ['1 min, no split', { interval_ms: 60_000 }],
    ['5 min by direction, 2 + other', { interval_ms: 300_000, split_by: ['direction'], split_limit: 2 }],
    ['10 min by src_ip/dst_port, 5 + other, flows', { interval_ms: 600_000, split_by: ['src_ip', 'dst_port'], split_limit: 5, metric: 'flows' }],
    ['conn_state (NULL series), all', { interval_ms: 900_000, split_by: ['conn_state'], split_limit: 0, metric: 'packets' }],
    ['45 s (not minute multiple: raw)', { interval_ms: 45_000, metric: 'bytes_tx' }],
    ['1 h by 3 dims', { interval_ms: 3_600_000, split_by: ['node', 'protocol', 'src_type'], split_limit: 4 }],
    ['5 min average handshake (with counts)', { interval_ms: 300_000, metric: 'handshake_us_avg' }],
    ['10 min average handshake by direction, 1 + other', { interval_ms: 600_000, split_by: ['direction'], split_limit: 1, metric: 'handshake_us_avg' }],
    ['10 min slowest handshake by node, 1 + other', { interval_ms: 600_000, split_by: ['node'], split_limit: 1, metric: 'handshake_us_max' }],
    ['45 s DNS response time (raw)', { interval_ms: 45_000, metric: 'dns_rtt_us_avg' }],
    ['15 min slowest DNS response', { interval_ms: 900_000, metric: 'dns_rtt_us_max' }],
  ];
  test.each(cases)('%s', async (_name, extra) => {
    await bothMatchOracle({ kind: 'timeseries', ...whole(), ...extra } as Query);
    await bothMatchOracle({ kind: 'timeseries', ...partial(), ...extra } as Query);
  });

  test('dense: every bucket of the range is present, empty ones are 0', async () => {
    const result = await rolled.run({ kind: 'timeseries', from: T0_MS - 3600_000, to: T0_MS + 600_000, interval_ms: 60_000 });
    if (result.kind !== 'timeseries') throw new Error('kind');
    expect(result.times.length).toBe(71); // from is not minute aligned: 60 + 10 + the partial first bucket
    expect(result.series[0].values.slice(0, 60).every((v) => v === 0)).toBe(true);
  });
});

describe('summary and values', () => {
  test('summary', async () => {
    await bothMatchOracle({ kind: 'summary', ...whole() });
    await bothMatchOracle({ kind: 'summary', ...partial() });
  });

  const cases: [string, Partial<Query>][] = [
    ['src_name prefix node-1', { dimension: 'src_name', prefix: 'NODE-1' }],
    ['dst_port', { dimension: 'dst_port' }],
    ['conn_state', { dimension: 'conn_state' }],
    ['src_ip prefix fd7a, 5', { dimension: 'src_ip', prefix: 'fd7a', limit: 5 }],
    ['protocol, 2', { dimension: 'protocol', limit: 2 }],
    ['flow_id prefix (raw only)', { dimension: 'flow_id', prefix: 'tie' }],
    ['dst_domain', { dimension: 'dst_domain' }],
  ];
  test.each(cases)('values %s', async (_name, extra) => {
    await bothMatchOracle({ kind: 'values', ...partial(), ...extra } as Query);
  });
});

describe('flows paging', () => {
  async function walk(engine: QueryEngine, query: Query & { kind: 'flows' }) {
    const out: FlowRecord[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await engine.run({ ...query, cursor });
      if (result.kind !== 'flows') throw new Error('kind');
      expect(result.records.length).toBeLessThanOrEqual(query.limit ?? 1000);
      out.push(...result.records);
      if (result.next_cursor === null) return out;
      cursor = result.next_cursor;
    }
    throw new Error('paging did not end');
  }

  test.each(['newest', 'oldest'] as const)('walks every record exactly once, %s first (ties and duplicates included)', async (order) => {
    const query = { kind: 'flows' as const, ...whole(), order, limit: 97 };
    const pages = await walk(raw, query);
    expect(pages.length).toBe(records.length);
    expect(pages).toEqual(flowsOracle(query, records));
  });

  test('overlap semantics and filters on a partial range', async () => {
    const query = {
      kind: 'flows' as const, ...partial(), order: 'oldest' as const, limit: 500,
      filters: [{ field: 'protocol', op: 'in', values: ['tcp', 'udp'] }, { field: 'duration_ms', op: 'gt', value: 1000 }] as Filter[],
    };
    const expected = flowsOracle(query, records);
    expect(expected.some((r) => r.start_us < query.from * 1000)).toBe(true); // started before, still running
    expect(await walk(raw, query)).toEqual(expected);
  });

  test('records round-trip exactly (nulls, IPv6, 64-bit times)', async () => {
    const result = await raw.run({ kind: 'flows', ...whole(), order: 'oldest', limit: 10_000 });
    if (result.kind !== 'flows') throw new Error('kind');
    const expected = flowsOracle({ kind: 'flows', ...whole(), order: 'oldest' }, records).slice(0, 10_000);
    expect(result.records).toEqual(expected);
    expect(result.records.some((r) => r.ip_version === 6 && r.icmp_type === null && r.conn_state !== null)).toBe(true);
    expect(result.records.some((r) => r.conn_state === null)).toBe(true);
    expect(Object.keys(result.records[0])).toEqual(Object.keys(records[0]));
  });
});

describe('input errors name the field', () => {
  const cases: [string, Query, string][] = [
    ['from >= to', { kind: 'summary', from: 2000, to: 1000 }, 'to'],
    ['bad cidr', { kind: 'summary', ...whole(), filters: [{ field: 'ip', op: 'cidr', value: '10.0.0.0/33' }] }, 'filters[0].value'],
    ['not an ip', { kind: 'summary', ...whole(), filters: [{ field: 'ip', op: 'eq', value: 'localhost' }] }, 'filters[0].value'],
    ['port not a number', { kind: 'summary', ...whole(), filters: [{ field: 'port', op: 'eq', value: 'https' }] }, 'filters[0].value'],
    ['bad range', { kind: 'summary', ...whole(), filters: [{ field: 'port', op: 'range', min: 10, max: 5 }] }, 'filters[0].min'],
    ['too many buckets', { kind: 'timeseries', from: 0, to: 86_400_000, interval_ms: 1000 }, 'interval_ms'],
    ['garbage cursor', { kind: 'flows', ...whole(), cursor: 'not-a-cursor' }, 'cursor'],
    ['unknown dimension', { kind: 'top', ...whole(), group_by: ['colour' as never] }, 'group_by'],
    ['5 dims besides community_id and direction', { kind: 'top', ...whole(), group_by: ['community_id', 'node', 'src_ip', 'dst_ip', 'src_port', 'dst_port'] }, 'group_by'],
  ];
  test.each(cases)('%s', async (_name, query, field) => {
    await expect(rolled.run(query)).rejects.toThrow(QueryInputError);
    await expect(rolled.run(query)).rejects.toMatchObject({ field });
  });

  test('a cursor is bound to its order', async () => {
    const first = await raw.run({ kind: 'flows', ...whole(), order: 'newest', limit: 5 });
    if (first.kind !== 'flows' || !first.next_cursor) throw new Error('expected a cursor');
    await expect(raw.run({ kind: 'flows', ...whole(), order: 'oldest', cursor: first.next_cursor })).rejects.toMatchObject({ field: 'cursor' });
  });
});

describe('row budget', () => {
  test('top with limit 0 beyond the budget', async () => {
    await expect(raw.run({ kind: 'top', ...whole(), group_by: ['src_port'], limit: 0 }, { rowBudget: 100 })).rejects.toThrow(RowBudgetError);
    // Within the budget the same groups are fine.
    await expect(raw.run({ kind: 'top', ...whole(), group_by: ['src_port'], limit: 100 }, { rowBudget: 100 })).resolves.toMatchObject({ kind: 'top' });
  });

  test('timeseries series x buckets beyond the budget', async () => {
    await expect(
      rolled.run({ kind: 'timeseries', ...whole(), interval_ms: 60_000, split_by: ['src_ip'], split_limit: 0 }, { rowBudget: 1000 }),
    ).rejects.toThrow(RowBudgetError);
  });

  test('flows page larger than the budget', async () => {
    await expect(raw.run({ kind: 'flows', ...whole(), limit: 5000 }, { rowBudget: 1000 })).rejects.toThrow(RowBudgetError);
  });
});
