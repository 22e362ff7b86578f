/**
 * End to end over real records: a synthetic capture (H1's generator) imported by the real
 * CLI (`flowmesh-agent import --db --jsonl`, built in agent/dist) into a DuckDB file; the
 * engine's answers over that file must equal the oracle computed over the JSON-lines copy
 * of the very same records, on both the raw and the rollup path.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { FlowRecord } from '../src/model/flow';
import type { Query } from '../src/model/query';
import { generateCapture } from '../src/synth/generate';
import { FlowStore } from '../src/store';
import { QueryEngine } from '../src/query';
import { flowsOracle, oracle } from './query-oracle';
import { whenPresent } from './support/prerequisite';

const CLI = path.resolve(__dirname, '../dist/cli.js');
const hasCli = fs.existsSync(CLI);
const maybe = whenPresent(`the capture-to-query tests (${CLI})`, hasCli, 'build the agent: npm run build -w agent');

let dir: string;
let records: FlowRecord[] = [];
let store: FlowStore | null = null;
let raw: QueryEngine;
let rolled: QueryEngine;
let range: { from: number; to: number };

beforeAll(async () => {
  if (!hasCli) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-query-pcap-'));
  const capture = await generateCapture({ out: path.join(dir, 'mesh.pcap'), seed: 11, flows: 400 });
  const db = path.join(dir, 'flows.duckdb');
  const jsonl = path.join(dir, 'flows.jsonl');
  execFileSync(process.execPath, [CLI, 'import', capture.pcapPath, '--db', db, '--jsonl', jsonl, '--node', 'pcap-node', '--log-level', 'warn'], { stdio: 'pipe' });
  records = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as FlowRecord);
  store = await FlowStore.open({ path: db, logger: pino({ level: 'silent' }), rollupIntervalMs: 3_600_000 });
  raw = new QueryEngine(store.instance, { rollups: 'off' });
  rolled = new QueryEngine(store.instance, { rollupMinRangeMs: 0 });
  const firstMs = Math.floor(Math.min(...records.map((r) => r.start_us)) / 1000);
  const lastMs = Math.ceil(Math.max(...records.map((r) => r.end_us)) / 1000);
  range = { from: firstMs - 90_000, to: lastMs + 90_000 };
}, 120_000);

afterAll(async () => {
  raw?.close();
  rolled?.close();
  await store?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

maybe('the imported capture gave a varied set of records', () => {
  expect(records.length).toBeGreaterThan(300);
  expect(new Set(records.map((r) => r.protocol)).size).toBeGreaterThanOrEqual(3);
  expect(records.some((r) => r.ip_version === 6)).toBe(true);
});

maybe('every aggregate kind equals the oracle over the same records, raw and rollup', async () => {
  const queries: Query[] = [
    { kind: 'summary', ...range },
    { kind: 'top', ...range, group_by: ['src_ip'], limit: 5 },
    { kind: 'top', ...range, group_by: ['dst_ip', 'dst_port'], metric: 'flows', limit: 0 },
    { kind: 'top', ...range, group_by: ['conn_state'], metric: 'packets', limit: 0, filters: [{ field: 'protocol', op: 'eq', value: 'tcp' }] },
    { kind: 'timeseries', ...range, interval_ms: 60_000, split_by: ['protocol'], split_limit: 2 },
    { kind: 'timeseries', ...range, interval_ms: 10_000, metric: 'bytes_rx' },
    { kind: 'values', ...range, dimension: 'dst_domain' },
    { kind: 'summary', ...range, filters: [{ field: 'tcp_flags', op: 'has_all', flags: ['SYN', 'RST'] }] },
    { kind: 'summary', ...range, filters: [{ field: 'ip', op: 'cidr', value: '::/0' }, { field: 'ip_version', op: 'eq', value: 6 }] },
  ];
  for (const query of queries) {
    const expected = oracle(query, records);
    expect(await raw.run(query)).toEqual(expected);
    expect(await rolled.run(query)).toEqual(expected);
  }
  expect(rolled.plans.rollup).toBeGreaterThan(3);
});

maybe('flows pages walk every imported record once', async () => {
  const query = { kind: 'flows' as const, ...range, order: 'newest' as const, limit: 50 };
  const seen: FlowRecord[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await raw.run({ ...query, cursor });
    if (result.kind !== 'flows') throw new Error('kind');
    seen.push(...result.records);
    if (!result.next_cursor) break;
    cursor = result.next_cursor;
  }
  expect(seen).toEqual(flowsOracle(query, records));
});
