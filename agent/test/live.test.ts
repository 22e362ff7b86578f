/**
 * include_open: flows still open in the flow table answer queries together with stored
 * records, and no packet is ever counted twice (or dropped) as records are emitted,
 * committed and rolled up. Real FlowTable, real FlowStore (DuckDB file), real QueryEngine.
 *
 * The oracle is a second, reference pipeline that saw the same packets up to the instant
 * of the snapshot and then stored everything: every query kind asked of the live system
 * with that snapshot must equal the same query over the reference store, although after
 * the snapshot the live system went on (new packets, records emitted, a transaction that
 * was in flight committed, the rollup advanced over the new rows).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { DecodedPacket } from '../src/decode/packet';
import { LocalAddresses } from '../src/flow/direction';
import { FlowTable, type FlowAnnotator } from '../src/flowtable/flowTable';
import { LiveFlows, type LiveRange, type LiveSnapshot } from '../src/live';
import type { FlowRecord } from '../src/model/flow';
import type { Query, QueryResult } from '../src/model/query';
import { QueryEngine } from '../src/query';
import { FlowStore } from '../src/store';
import { decodedPacket } from './support/decoded-packet';

const S = 1_000_000;
const NOW_US = Date.UTC(2026, 2, 1, 12, 0, 0) * 1000 + 123_456;
const NOW_MS = Math.floor(NOW_US / 1000);
const MANUAL = { rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000, flushIntervalMs: 3_600_000 };
const annotator: FlowAnnotator = {
  direction: (src, dst, v) => LocalAddresses.of(['10.0.0.1']).direction(src, dst, v),
  endpoint: () => ({ name: '', type: 'unknown' }),
  domain: () => '',
};

interface Pkt {
  t: number; // seconds after NOW_US (negative: in the past)
  src: string;
  dst: string;
  sp: number;
  dp: number;
  proto?: number;
  flags?: number;
  bytes: number;
}
const SYN = 0x02, ACK = 0x10, FIN = 0x01, PSH = 0x08;

function packet(d: Pkt): DecodedPacket {
  return decodedPacket(d.src, d.dst, {
    tsUs: NOW_US + Math.round(d.t * S),
    protocol: d.proto ?? 6,
    srcPort: d.sp,
    dstPort: d.dp,
    ipBytes: d.bytes,
    tcpFlags: d.flags ?? 0,
  });
}

/** A TCP connection 10.0.0.1:port -> server:443 from t (s): handshake, data, and (closed) FIN both ways. */
function connection(t: number, port: number, server: string, data: number, closed: boolean): Pkt[] {
  const out = (dt: number, flags: number, bytes: number): Pkt => ({ t: t + dt, src: '10.0.0.1', dst: server, sp: port, dp: 443, flags, bytes });
  const back = (dt: number, flags: number, bytes: number): Pkt => ({ t: t + dt, src: server, dst: '10.0.0.1', sp: 443, dp: port, flags, bytes });
  const steps = [out(0, SYN, 60), back(0.02, SYN | ACK, 60), out(0.021, ACK, 52), out(0.03, PSH | ACK, 52 + data), back(0.05, PSH | ACK, 52 + 4 * data)];
  if (closed) steps.push(out(0.06, FIN | ACK, 52), back(0.07, FIN | ACK, 52), out(0.071, ACK, 52));
  return steps;
}

const udp = (t: number, port: number, bytes: number): Pkt => ({ t, src: '10.0.0.1', dst: '10.0.1.53', sp: port, dp: 5353, proto: 17, bytes });

interface Pipeline {
  table: FlowTable;
  store: FlowStore;
  feed(packets: Pkt[]): void;
}

let dir: string;
const opened: FlowStore[] = [];

async function pipeline(name: string): Promise<Pipeline> {
  const store = await FlowStore.open({ path: path.join(dir, `${name}.duckdb`), logger: pino({ level: 'warn' }), ...MANUAL });
  opened.push(store);
  const table = new FlowTable({ node: 'n1', interfaceName: 'wg0', annotator, bootId: 'live', timeouts: { activeTimeoutS: 30, tcpLingerS: 1 } }, store);
  return { table, store, feed: (packets) => packets.forEach((p) => table.process(packet(p))) };
}

beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-live-'))));
afterAll(async () => {
  for (const store of opened) await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Packets before the snapshot: an old hour of closed connections (stored and rolled up by
 * then), connections that closed a little earlier (stored, not rolled up), and open ones
 * (one past an interim record), in time order.
 */
function before(): Pkt[] {
  const old = Array.from({ length: 30 }, (_, i) => connection(-7200 + i * 90, 20_000 + i, `198.51.100.${i % 7}`, 500 + i, true)).flat();
  const recent = Array.from({ length: 6 }, (_, i) => connection(-20 + i, 30_000 + i, `203.0.113.${i}`, 1000 * (i + 1), true)).flat();
  const open = [
    // (an open flow whose current period is empty at the snapshot has no record yet, while the
    // reference would end it with an empty one: open flows here all have packets in their period)
    ...connection(-25, 40_000, '192.0.2.10', 7000, false),
    { ...udp(-44, 41_000, 300) },
    { ...udp(-5, 41_000, 300) }, // after the active timeout: interim for [-44] first
    ...connection(-3, 40_001, '192.0.2.11', 3000, false),
    ...connection(-2, 40_002, '192.0.2.12', 100, true), // closed: emitted once the linger passes
  ];
  return [...old, ...recent, ...open].sort((a, b) => a.t - b.t);
}

/** Packets after the snapshot: more on open flows, and new connections. */
const after = (): Pkt[] => [...connection(1, 40_100, '192.0.2.50', 900, true), { ...udp(1.5, 41_000, 777) }, ...connection(2, 40_101, '192.0.2.51', 50, false)];

const RANGE = { from: NOW_MS - 3 * 3600_000, to: NOW_MS + 3600_000 };
const QUERIES: Query[] = [
  { kind: 'summary', ...RANGE },
  { kind: 'top', ...RANGE, group_by: ['dst_ip'], metric: 'bytes', limit: 5 },
  { kind: 'top', ...RANGE, group_by: ['protocol', 'dst_port'], metric: 'handshake_us_avg', limit: 0 },
  { kind: 'top', ...RANGE, group_by: ['direction'], metric: 'handshake_us_max', limit: 0 },
  { kind: 'timeseries', ...RANGE, interval_ms: 60_000, metric: 'packets' },
  { kind: 'timeseries', ...RANGE, interval_ms: 600_000, metric: 'flows', split_by: ['dst_ip'], split_limit: 3 },
  { kind: 'timeseries', ...RANGE, interval_ms: 300_000, metric: 'handshake_us_avg' },
  { kind: 'values', ...RANGE, dimension: 'dst_ip', limit: 100 },
  { kind: 'summary', ...RANGE, filters: [{ field: 'protocol', op: 'eq', value: 'udp' }] },
];

/** A flows answer as a comparable list: the record kinds differ (open/pending/stored vs final), nothing else may. */
function normalised(result: QueryResult): unknown {
  if (result.kind !== 'flows') return { ...result, live: undefined };
  return result.records
    .map((r: FlowRecord) => ({ ...r, record_kind: '-', end_reason: '-' }))
    .sort((a, b) => a.flow_id.localeCompare(b.flow_id) || a.seq - b.seq);
}

test('every query kind answers the state of the snapshot instant, whatever lands after it', async () => {
  const live = await pipeline('live');
  const packets = before();
  live.feed(packets.filter((p) => p.t < -600));
  live.table.advanceTime(NOW_US - 500 * S);
  await live.store.flush();
  expect(await live.store.rollUp()).toBeGreaterThan(0);
  live.feed(packets.filter((p) => p.t >= -600 && p.t < -10));
  live.table.advanceTime(NOW_US - 8 * S);
  await live.store.flush(); // recent closed connections: stored, not rolled up
  live.feed(packets.filter((p) => p.t >= -10));

  // A transaction in flight, and records queued behind it, at the instant of the snapshot.
  const flushing = live.store.flush();
  for (let i = 0; i < 1000 && live.store.pendingView().hiddenRids.length === 0; i++) await Promise.resolve();
  expect(live.store.pendingView().hiddenRids.length).toBe(1);
  live.table.advanceTime(NOW_US); // the closed connection's linger passes: its record queues behind
  const source = new LiveFlows(live.table, live.store);
  const snapshots = new Map<boolean, LiveSnapshot>([false, true].map((overlap) => [overlap, source.snapshot({ fromUs: RANGE.from * 1000, toUs: RANGE.to * 1000, overlap })]));
  const snapshot = snapshots.get(false)!;
  expect(snapshot.openRecords).toBeGreaterThanOrEqual(3);
  expect(snapshot.pendingRecords).toBeGreaterThanOrEqual(2);
  expect(snapshot.hiddenRids).toHaveLength(1);

  // The live system goes on: the in-flight transaction commits, new packets, every flow ends,
  // everything is written and rolled up (the rollup now covers rows committed after the instant).
  await flushing;
  live.feed(after());
  live.table.flushAll();
  await live.store.flush();
  await live.store.rollUp();
  await live.store.compactRollups();

  const reference = await pipeline('reference');
  reference.feed(packets);
  reference.table.advanceTime(NOW_US);
  reference.table.flushAll();
  await reference.store.flush();

  const stale = { snapshot: (range: LiveRange) => snapshots.get(range.overlap)! };
  const liveEngine = new QueryEngine(live.store.instance, { rollups: 'auto', rollupMinRangeMs: 0 });
  liveEngine.attachLive(stale);
  const referenceEngine = new QueryEngine(reference.store.instance, { rollups: 'off' });
  try {
    for (const query of [...QUERIES, { kind: 'flows', ...RANGE, limit: 10_000 } as Query]) {
      const expected = normalised(await referenceEngine.run(query));
      const answer = await liveEngine.run({ ...query, include_open: true });
      expect({ query, answer: normalised(answer) }).toEqual({ query, answer: expected });
      expect(answer.live).toMatchObject({ available: true, open_records: expect.any(Number), omitted_records: 0 });
    }
    expect(liveEngine.plans.rollup).toBeGreaterThan(0); // the rollup was read (up to the settled minute)
    // Without include_open only what is stored now counts: everything, after the fact.
    const stored = await liveEngine.run({ kind: 'summary', ...RANGE });
    const all = await referenceEngine.run({ kind: 'summary', ...RANGE });
    expect(stored.kind === 'summary' && all.kind === 'summary' && stored.total.bytes > all.total.bytes).toBe(true);
    expect(stored.live).toBeUndefined();
  } finally {
    liveEngine.close();
    referenceEngine.close();
  }
});

test('open flows show as records of kind open, within the flows range, counters since the last record', async () => {
  const { table, store, feed } = await pipeline('open');
  feed(connection(-1, 45_000, '192.0.2.99', 1234, false));
  const engine = new QueryEngine(store.instance);
  engine.attachLive(new LiveFlows(table, store));
  try {
    const result = await engine.run({ kind: 'flows', from: NOW_MS - 60_000, to: NOW_MS + 60_000, include_open: true });
    if (result.kind !== 'flows') throw new Error('kind');
    expect(result.records).toHaveLength(1);
    expect(result.records[0]).toMatchObject({
      record_kind: 'open', end_reason: 'open', seq: 0, src_port: 45_000, packets_tx: 3, packets_rx: 2,
      bytes_tx: 60 + 52 + 52 + 1234, tcp_synack_us: 20_000, tcp_ack_us: 1000,
    });
    expect(result.live).toMatchObject({ available: true, open_records: 1, pending_records: 0, omitted_records: 0 });
    const outside = await engine.run({ kind: 'flows', from: NOW_MS + 10_000, to: NOW_MS + 60_000, include_open: true });
    expect(outside.kind === 'flows' && outside.records.length).toBe(0);
    const filtered = await engine.run({ kind: 'top', from: NOW_MS - 60_000, to: NOW_MS + 60_000, group_by: ['record_kind'], include_open: true, filters: [{ field: 'record_kind', op: 'eq', value: 'open' }] });
    expect(filtered.kind === 'top' && filtered.rows.map((r) => [r.key.record_kind, r.totals.flows])).toEqual([['open', 1]]);
  } finally {
    engine.close();
  }
});

test('include_open without a flow table (serve) says so and answers from the store', async () => {
  const { store } = await pipeline('serve');
  const engine = new QueryEngine(store.instance);
  try {
    const result = await engine.run({ kind: 'summary', from: NOW_MS - 60_000, to: NOW_MS, include_open: true });
    expect(result.live).toEqual({ available: false, as_of_us: null, open_records: 0, pending_records: 0, omitted_records: 0 });
  } finally {
    engine.close();
  }
});

test('bounded: beyond max records, open and pending records are left out and counted', async () => {
  const { table, store, feed } = await pipeline('bounded');
  feed(Array.from({ length: 12 }, (_, i) => udp(-1 + i * 0.01, 50_000 + i, 100)));
  const snapshot = new LiveFlows(table, store, 5).snapshot({ fromUs: NOW_US - 60 * S, toUs: NOW_US + 60 * S, overlap: false });
  expect([snapshot.records.length, snapshot.openRecords, snapshot.omittedRecords]).toEqual([5, 5, 7]);
});
