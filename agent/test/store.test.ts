/**
 * FlowStore on real DuckDB files: exact round trip across close/reopen, retention, invalid
 * records, and rollup vs raw totals over random records and random ranges. Storage failures
 * are in store-faults.test.ts, damaged files in store-damage.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pino from 'pino';
import type { FlowRecord } from '../src/model/flow';
import type { Dimension, Metric, Query } from '../src/model/query';
import { generateFlowRecords, seededRandom } from '../src/bench/flow-records';
import { classifyStorageError, FlowStore, ROLLUP_DIMENSIONS, type StoreOptionsInput } from '../src/store';
import { transactionSize } from '../src/store/flow-store';
import { flowColumnsAt, SCHEMA_VERSION } from '../src/store/migrations';
import { FLOW_COLUMNS } from '../src/store/schema';
import { MAINTENANCE_CHECKPOINT_WAL_BYTES } from '../src/store/open';
import { ipToBigInt } from '../src/store/ip';
import { QueryEngine } from '../src/query';

const quiet = pino({ level: 'silent' });
const HOUR_US = 3_600_000_000;
const T0_US = Date.UTC(2026, 2, 1) * 1000 + 4_321_987;
const manual = { rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000, flushIntervalMs: 3_600_000 };

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-store-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const open = (extra: Partial<StoreOptionsInput> = {}) =>
  FlowStore.open({ path: path.join(dir, 'flows.duckdb'), logger: quiet, ...manual, ...extra });

async function readAll(dbPath: string): Promise<{ records: FlowRecord[]; extra: { minute_us: number; src_num: bigint; dst_num: bigint }[] }> {
  const instance = await DuckDBInstance.create(dbPath);
  const connection = await instance.connect();
  const reader = await connection.runAndReadAll(
    `SELECT * EXCLUDE (rid, minute_us, src_ip_hi, src_ip_lo, dst_ip_hi, dst_ip_lo), minute_us,
       (src_ip_hi::UHUGEINT << 64) | src_ip_lo AS src_num, (dst_ip_hi::UHUGEINT << 64) | dst_ip_lo AS dst_num FROM flows ORDER BY rid`,
  );
  const names = reader.columnNames();
  const rows = reader.getRowObjects();
  connection.closeSync();
  instance.closeSync();
  return {
    records: rows.map((row) => {
      const record: Record<string, unknown> = {};
      for (const name of names.slice(0, -3)) record[name] = typeof row[name] === 'bigint' ? Number(row[name]) : row[name];
      return record as unknown as FlowRecord;
    }),
    extra: rows.map((row) => ({ minute_us: Number(row.minute_us), src_num: row.src_num as bigint, dst_num: row.dst_num as bigint })),
  };
}

/** Records at the edges of every column's range and of the inline/long string encodings. */
function edgeRecords(): FlowRecord[] {
  const base = [...generateFlowRecords({ seed: 11, count: 3, startUs: T0_US, spanUs: HOUR_US })];
  return [
    { ...base[0], src_name: 'exactly12chr', dst_name: 'thirteen-char', dst_domain: 'café.example', community_id: '', flow_id: 'ü' },
    {
      ...base[1], ip_version: 6, src_ip: '::ffff:10.0.0.1', dst_ip: 'fe80::1%wg0', src_port: 65535, dst_port: 0,
      bytes_tx: Number.MAX_SAFE_INTEGER, bytes_rx: 0, packets_tx: 2 ** 40, packets_rx: 0, tcp_flags_src: 255, tcp_flags_dst: 0,
      icmp_type: 255, icmp_code: 0, conn_state: null, seq: 4_000_000_000, node: 'a-node-with-a-long-name-über', interface: '',
      icmp_id: 65535, tcp_synack_us: Number.MAX_SAFE_INTEGER, tcp_ack_us: 0, dns_rtt_us: 0,
    },
    { ...base[2], start_us: 0, end_us: 0, flow_start_us: 0, protocol: 'ip-47', protocol_number: 47, src_ip: '::', dst_ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
  ];
}

test('records round-trip exactly across close and reopen, with every column edge case', async () => {
  const records = [...generateFlowRecords({ seed: 5, count: 8000, startUs: T0_US, spanUs: 6 * HOUR_US }), ...edgeRecords()];
  const batches: number[] = [];
  const store = await open({ batchSize: 3000 });
  store.onBatch((_seconds, rows) => batches.push(rows));
  for (const r of records) store.write(r);
  await store.close();
  expect(batches.reduce((a, b) => a + b, 0)).toBe(records.length);

  const { records: stored, extra } = await readAll(path.join(dir, 'flows.duckdb'));
  expect(stored).toEqual(records);
  extra.forEach((e, i) => {
    expect(e.minute_us).toBe(Math.floor(records[i].start_us / 60e6) * 60e6);
    expect(e.src_num).toBe(ipToBigInt(records[i].src_ip));
    expect(e.dst_num).toBe(ipToBigInt(records[i].dst_ip));
  });

  // Reopen through the store: rids continue, counters start fresh, the data is all there.
  const again = await open();
  again.write(records[0]);
  await again.flush();
  const stats = await again.stats();
  expect(stats.storedRecords).toBe(records.length + 1);
  expect(stats.oldestUs).toBe(0);
  await again.close();
});

test('a producer that never yields loses nothing: records are written synchronously once the threshold waits', async () => {
  const records = [...generateFlowRecords({ seed: 8, count: 150_000, startUs: T0_US, spanUs: 2 * HOUR_US })];
  const store = await open({ syncDrainRecords: 20_000, maxBacklog: 30_000, batchSize: 10_000 });
  // An async flush gets under way first, so the synchronous path must leave its records alone.
  for (const r of records.slice(0, 15_000)) store.write(r);
  await new Promise((resolve) => setImmediate(resolve));
  for (const r of records.slice(15_000)) store.write(r); // one synchronous burst of 135,000
  expect(store.counters()).toMatchObject({ backlogDropped: 0, lastError: null });
  expect(store.counters().rowsWritten).toBeGreaterThanOrEqual(120_000); // written inside write()
  await store.flush();
  await store.rollUp();
  const stats = await store.stats();
  expect(stats.storedRecords).toBe(records.length);
  const { records: stored } = await (async () => {
    await store.close();
    return readAll(path.join(dir, 'flows.duckdb'));
  })();
  const key = (r: FlowRecord) => `${r.flow_id}/${r.seq}/${r.start_us}`;
  expect(stored.map(key).sort()).toEqual(records.map(key).sort());
  const again = await open();
  const raw = new QueryEngine(again.instance, { rollups: 'off' });
  const rolled = new QueryEngine(again.instance, { rollupMinRangeMs: 0 });
  const top: Query = { kind: 'top', from: 0, to: Math.ceil(T0_US / 1000) + 3 * 3600_000, group_by: ['src_ip', 'dst_port'], limit: 0 };
  expect(await rolled.run(top)).toEqual(await raw.run(top));
  raw.close();
  rolled.close();
  await again.close();
});

/** Whether the file's storage format has DuckDB 1.3's dictionary + FSST compression (a table can ask for it). */
async function hasDictFsst(dbPath: string): Promise<boolean> {
  const instance = await DuckDBInstance.create(dbPath);
  const connection = await instance.connect();
  try {
    await connection.run('CREATE TABLE probe (a VARCHAR USING COMPRESSION dict_fsst)');
    await connection.run('DROP TABLE probe');
    return true;
  } catch (error) {
    expect(String(error)).toMatch(/not available yet/);
    return false;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

test('a new database file gets the newer storage format; a file in the older one keeps it and works as before', async () => {
  const records = [...generateFlowRecords({ seed: 12, count: 2000, startUs: T0_US, spanUs: HOUR_US })];
  const store = await open();
  for (const r of records) store.write(r);
  await store.close();
  expect(await hasDictFsst(path.join(dir, 'flows.duckdb'))).toBe(true);

  const oldPath = path.join(dir, 'old-format.duckdb');
  const instance = await DuckDBInstance.create(oldPath); // DuckDB's default format, as earlier Flowmesh versions wrote
  const connection = await instance.connect();
  await connection.run('CREATE TABLE unrelated (a INTEGER)');
  connection.closeSync();
  instance.closeSync();
  const old = await FlowStore.open({ path: oldPath, logger: quiet, ...manual });
  for (const r of records) old.write(r);
  await old.close();
  expect((await readAll(oldPath)).records).toEqual(records);
  expect(await hasDictFsst(oldPath)).toBe(false);
});

test('a version 1 database is upgraded in place: old rows kept (not measured, not routed), new columns written, rollups merge', async () => {
  const dbPath = path.join(dir, 'flows.duckdb');
  const records = [...generateFlowRecords({ seed: 21, count: 2000, startUs: T0_US, spanUs: HOUR_US })];
  const old = records.slice(0, 1000).map((r) => ({
    ...r, icmp_id: null, tcp_synack_us: null, tcp_ack_us: null, dns_rtt_us: null,
    peer_name: '', peer_key: '', transit: null, link_id: '', nat_src_ip: '', nat_src_port: 0, nat_dst_ip: '', nat_dst_port: 0,
  }));
  const first = await open();
  for (const r of old) first.write(r);
  await first.flush();
  await first.rollUp();
  await first.close();
  // Take the file back to version 1's layout: the same tables without the columns (and type) added since.
  const instance = await DuckDBInstance.create(dbPath);
  const connection = await instance.connect();
  const v1Columns = new Set(flowColumnsAt(1, FLOW_COLUMNS.map(([name]) => name)));
  for (const [column] of FLOW_COLUMNS.filter(([name]) => !v1Columns.has(name))) await connection.run(`ALTER TABLE flows DROP COLUMN ${column}`);
  for (const column of [
    'handshakes', 'synack_us_sum', 'ack_us_sum', 'handshake_us_max', 'dns_responses', 'dns_rtt_us_sum', 'dns_rtt_us_max',
    'peer_name', 'peer_key', 'transit',
  ]) {
    await connection.run(`ALTER TABLE flows_1m DROP COLUMN ${column}`);
  }
  await connection.run('DROP TYPE fm_transit');
  await connection.run("UPDATE flowmesh_meta SET value = '1' WHERE key = 'schema_version'");
  connection.closeSync();
  instance.closeSync();

  const upgraded = await open();
  for (const r of records.slice(1000)) upgraded.write(r);
  await upgraded.flush();
  await upgraded.rollUp();
  await upgraded.compactRollups();
  const engine = new QueryEngine(upgraded.instance, { rollupMinRangeMs: 0 });
  const raw = new QueryEngine(upgraded.instance, { rollups: 'off' });
  try {
    const range = { from: Math.floor(T0_US / 1000) - 60_000, to: Math.floor(T0_US / 1000) + 2 * 3600_000 };
    const query: Query = { kind: 'top', ...range, group_by: ['dst_port'], metric: 'handshake_us_avg', limit: 0 };
    expect(await engine.run(query)).toEqual(await raw.run(query));
    const byPeer: Query = { kind: 'top', ...range, group_by: ['peer_name', 'dst_port'], metric: 'bytes', limit: 0 };
    expect(await engine.run(byPeer)).toEqual(await raw.run(byPeer));
    expect(engine.plans.rollup).toBe(2);
  } finally {
    engine.close();
    raw.close();
    await upgraded.close();
  }
  expect((await readAll(dbPath)).records).toEqual([...old, ...records.slice(1000)]);
  const check = await DuckDBInstance.create(dbPath);
  const c = await check.connect();
  expect((await c.runAndReadAll("SELECT value FROM flowmesh_meta WHERE key = 'schema_version'")).getRows()).toEqual([[String(SCHEMA_VERSION)]]);
  // a file from a newer agent is refused, untouched
  await c.run(`UPDATE flowmesh_meta SET value = '${SCHEMA_VERSION + 1}' WHERE key = 'schema_version'`);
  c.closeSync();
  check.closeSync();
  await expect(open()).rejects.toThrow(new RegExp(`schema version ${SCHEMA_VERSION + 1} is newer than this agent's`));
  expect(fs.existsSync(dbPath)).toBe(true);
});

test('invalid records are dropped and counted, never thrown, and do not poison the batch', async () => {
  const [good, other] = [...generateFlowRecords({ seed: 2, count: 2, startUs: T0_US, spanUs: HOUR_US })];
  const store = await open();
  expect(() => store.write({ ...good, direction: 'sideways' } as unknown as FlowRecord)).not.toThrow();
  store.write({ ...good, src_ip: 'not-an-ip' });
  store.write({ ...good, bytes_tx: -1 });
  store.write({ ...good, record_kind: 'open', end_reason: 'open' }); // the API's view of the flow table, never stored
  store.write({ ...good, tcp_synack_us: 10, tcp_ack_us: null }); // the legs come together
  store.write({ ...good, icmp_id: 70_000 });
  store.write(good);
  store.write(other);
  await store.flush();
  const counters = store.counters();
  expect(counters.dropped.invalid).toBe(6);
  expect(counters.received).toBe(8);
  expect(counters.errors.invalid_record).toBe(6);
  expect(counters.rowsWritten).toBe(2);
  await store.close();
});

test('retention deletes exactly the records (and rollup rows) that started before the cutoff', async () => {
  const DAY_US = 24 * HOUR_US;
  const records = [...generateFlowRecords({ seed: 9, count: 20_000, startUs: T0_US, spanUs: 10 * DAY_US })];
  const nowMs = Math.floor((T0_US + 10 * DAY_US) / 1000) + 12_345;
  const store = await open({ retentionDays: 7, retentionChunkMinutes: 6 * 60, now: () => nowMs });
  for (const r of records.slice(0, 15_000)) store.write(r);
  await store.flush();
  await store.rollUp();
  for (const r of records.slice(15_000)) store.write(r);
  await store.flush();

  const newestMs = Math.floor(Math.max(...records.map((r) => r.start_us)) / 1000);
  const cutoffUs = Math.floor((Math.min(nowMs, newestMs) - 7 * 86_400_000) / 60_000) * 60_000 * 1000;
  const result = await store.runRetention();
  expect(result.cutoffUs).toBe(cutoffUs);
  const kept = records.filter((r) => r.start_us >= cutoffUs);
  expect(result.deletedRecords).toBe(records.length - kept.length);
  expect(result.deletedRecords).toBeGreaterThan(5000);
  expect(result.deletedRollupRows).toBeGreaterThan(0);
  await store.rollUp();

  const everything = { from: 0, to: nowMs + 86_400_000 };
  const raw = new QueryEngine(store.instance, { rollups: 'off' });
  const rolled = new QueryEngine(store.instance, { rollupMinRangeMs: 0 });
  const summary = await raw.run({ kind: 'summary', ...everything });
  expect(summary).toMatchObject({ records: kept.length, first_us: Math.min(...kept.map((r) => r.start_us)) });
  const top: Query = { kind: 'top', ...everything, group_by: ['dst_ip'], limit: 0 };
  expect(await rolled.run(top)).toEqual(await raw.run(top));
  expect(rolled.plans.rollup).toBe(1);
  // Nothing left to delete the second time.
  expect((await store.runRetention()).deletedRecords).toBe(0);
  raw.close();
  rolled.close();
  await store.close();
});

test('a backlog is written in whole DuckDB row groups (direct to the file, no WAL), the rest after', () => {
  expect(transactionSize(5000, 245_760)).toBe(5000);
  expect(transactionSize(200_000, 245_760)).toBe(122_880);
  expect(transactionSize(1_000_000, 245_760)).toBe(245_760);
  expect(transactionSize(77_000, 245_760)).toBe(77_000);
});

test('storage errors are classified by kind (the label of flowmesh_store_errors_total)', () => {
  expect(classifyStorageError(new Error('Could not write file "x.wal": No space left on device'))).toBe('disk_full');
  expect(classifyStorageError(new Error('IO Error: Cannot open file "x": Read-only file system'))).toBe('read_only');
  expect(classifyStorageError(new Error('IO Error: Could not fsync file "x": Input/output error'))).toBe('io');
  expect(classifyStorageError(new Error('FATAL Error: Failed: database has been invalidated because of a previous fatal error'))).toBe('io');
  expect(classifyStorageError(new Error('IO Error: Corrupt database file: computed checksum 1 does not match stored checksum 2 in block at location 16003072'))).toBe('damaged');
  expect(classifyStorageError(new Error('something else'))).toBe('other');
});

test('retention counts back from the newest record: an imported old capture is not emptied by the clock', async () => {
  const records = [...generateFlowRecords({ seed: 10, count: 3000, startUs: T0_US, spanUs: 2 * HOUR_US })];
  const store = await open({ retentionDays: 1, now: () => T0_US / 1000 + 365 * 86_400_000 });
  for (const r of records) store.write(r);
  await store.flush();
  expect((await store.runRetention()).deletedRecords).toBe(0);
  expect((await store.stats()).storedRecords).toBe(3000);
  await store.close();
});

test('rollup and raw answers are identical for random top and timeseries queries', async () => {
  const random = seededRandom(42);
  const records = [
    ...generateFlowRecords({ seed: 21, count: 15_000, startUs: T0_US, spanUs: 8 * HOUR_US }),
    ...generateFlowRecords({ seed: 22, count: 5_000, startUs: T0_US + 2 * HOUR_US, spanUs: 2 * HOUR_US }), // late, out of order
  ];
  const store = await open();
  for (const [i, r] of records.entries()) {
    store.write(r);
    if (i % 4000 === 3999) {
      await store.flush();
      if (i < 16_000) await store.rollUp(); // several passes: several rollup rows per key and minute
    }
  }
  await store.flush();
  await store.compactRollups();
  const raw = new QueryEngine(store.instance, { rollups: 'off' });
  const rolled = new QueryEngine(store.instance, { rollupMinRangeMs: 0 });
  const dims = [...ROLLUP_DIMENSIONS] as Dimension[];
  const metrics: Metric[] = ['bytes', 'packets', 'flows', 'bytes_rx'];
  const pick = <T>(items: T[], n: number) => Array.from({ length: n }, () => items[Math.floor(random() * items.length)]);
  for (let i = 0; i < 12; i++) {
    const fromMs = Math.floor(T0_US / 1000 + random() * 4 * 3600_000);
    const toMs = fromMs + 60_000 + Math.floor(random() * 5 * 3600_000);
    const top: Query = { kind: 'top', from: fromMs, to: toMs, group_by: pick(dims, 1 + (i % 3)), metric: pick(metrics, 1)[0], limit: i % 2 ? 0 : 5 };
    expect(await rolled.run(top)).toEqual(await raw.run(top));
    const series: Query = {
      kind: 'timeseries', from: fromMs, to: toMs, interval_ms: 60_000 * (1 + (i % 4)) * 5,
      split_by: pick(dims, i % 3), split_limit: i % 4, metric: pick(metrics, 1)[0],
    };
    expect(await rolled.run(series)).toEqual(await raw.run(series));
  }
  expect(rolled.plans.rollup).toBeGreaterThanOrEqual(20);
  raw.close();
  rolled.close();
  await store.close();
});

test("busy nodes checkpoint at DuckDB's larger threshold, a maintenance pass checkpoints any WAL over 16 MB, a smaller one is left", async () => {
  const store = await open({ batchSize: 10_000 });
  const walBytes = () => store.fileSizes().walBytes;
  const writeInTransactions = async (records: FlowRecord[]) => {
    for (let i = 0; i < records.length; i += 10_000) {
      for (const r of records.slice(i, i + 10_000)) store.write(r);
      await store.flush();
    }
  };
  // a few transactions: a WAL well under 16 MB, which the pass leaves (a quiet node as before)
  await writeInTransactions([...generateFlowRecords({ seed: 21, count: 20_000, startUs: T0_US, spanUs: HOUR_US })]);
  const small = walBytes();
  expect(small).toBeGreaterThan(0);
  expect(small).toBeLessThan(MAINTENANCE_CHECKPOINT_WAL_BYTES);
  await store.runMaintenance();
  expect(walBytes()).toBeGreaterThanOrEqual(small);
  // past DuckDB's default threshold (16 MB) no checkpoint happens by itself any more...
  await writeInTransactions([...generateFlowRecords({ seed: 22, count: 130_000, startUs: T0_US + HOUR_US, spanUs: HOUR_US })]);
  expect(walBytes()).toBeGreaterThan(MAINTENANCE_CHECKPOINT_WAL_BYTES);
  // ...until the maintenance pass
  await store.runMaintenance();
  expect(walBytes()).toBeLessThan(MAINTENANCE_CHECKPOINT_WAL_BYTES / 16);
  expect((await store.stats()).storedRecords).toBe(150_000);
  expect(store.counters().lastError).toBeNull();
  await store.close();
});
