/**
 * Query limits on a real DuckDB file big enough for a slow query: the timeout really
 * interrupts DuckDB (the same query without a deadline takes several times longer), an
 * AbortSignal cancels, the concurrency limiter queues then refuses (BusyError), a queued
 * query's deadline also counts, and the store's writer is not blocked by a running query.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { Query } from '../src/model/query';
import { generateFlowRecords } from '../src/bench/flow-records';
import { FlowStore } from '../src/store';
import { BusyError, QueryCancelledError, QueryEngine, QueryTimeoutError } from '../src/query';
import { insertBulkFlows } from './support/bulk-flows';

const ROWS = 600_000;
const BASE_US = Date.UTC(2026, 3, 1) * 1000;
const range = { from: BASE_US / 1000, to: BASE_US / 1000 + 86_400_000 };
/** Groups over millions of distinct strings: deliberately expensive. */
const heavy: Query = { kind: 'top', ...range, group_by: ['flow_id', 'community_id', 'src_port', 'dst_ip'], limit: 0 };
const light: Query = { kind: 'summary', from: range.from, to: range.from + 60_000 };

let dir: string;
let store: FlowStore;
let baselineMs = 0;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-limits-'));
  store = await FlowStore.open({ path: path.join(dir, 'big.duckdb'), logger: pino({ level: 'silent' }), rollupIntervalMs: 3_600_000 });
  // Bulk rows straight through SQL (fast), then a real write through the store on top; the
  // rollup is kept out of this test.
  await insertBulkFlows(store, { rows: ROWS, startUs: BASE_US, stepUs: 30_000, rolledUp: true });
  const probe = new QueryEngine(store.instance, { rollups: 'off', rowBudget: 10_000_000 });
  const started = performance.now();
  await probe.run(heavy, { timeoutMs: 120_000 });
  baselineMs = performance.now() - started;
  probe.close();
}, 180_000);

afterAll(async () => {
  await store?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the deadline interrupts DuckDB mid-query and the engine keeps working', async () => {
  const timeoutMs = 150;
  expect(baselineMs).toBeGreaterThan(timeoutMs * 4); // otherwise this test would prove nothing
  const engine = new QueryEngine(store.instance, { rollups: 'off', rowBudget: 10_000_000, maxConcurrent: 1 });
  const started = performance.now();
  await expect(engine.run(heavy, { timeoutMs })).rejects.toThrow(QueryTimeoutError);
  const elapsed = performance.now() - started;
  expect(elapsed).toBeLessThan(Math.max(timeoutMs + 1500, baselineMs / 2));
  // Same single connection, next query fine.
  await expect(engine.run(light)).resolves.toMatchObject({ kind: 'summary', records: 2000 }); // one every 30 ms
  engine.close();
});

test('an AbortSignal cancels a running query', async () => {
  const engine = new QueryEngine(store.instance, { rollups: 'off', rowBudget: 10_000_000 });
  const controller = new AbortController();
  const started = performance.now();
  setTimeout(() => controller.abort(), 100);
  await expect(engine.run(heavy, { signal: controller.signal, timeoutMs: 120_000 })).rejects.toThrow(QueryCancelledError);
  expect(performance.now() - started).toBeLessThan(Math.max(1600, baselineMs / 2));
  engine.close();
});

test('concurrency: one runs, one waits, the next is refused at once; a waiting query whose deadline passes is refused as overload', async () => {
  const engine = new QueryEngine(store.instance, { rollups: 'off', rowBudget: 10_000_000, maxConcurrent: 1, maxQueued: 1 });
  const controller = new AbortController();
  const running = engine.run(heavy, { signal: controller.signal, timeoutMs: 120_000 });
  const waiting = engine.run(light, { timeoutMs: 200 });
  expect(engine.load).toEqual({ running: 1, queued: 1 });
  await expect(engine.run(light)).rejects.toThrow(BusyError);
  await expect(waiting).rejects.toThrow(BusyError); // its deadline passed while queued: it never ran
  controller.abort();
  await expect(running).rejects.toThrow(QueryCancelledError);
  expect(engine.load).toEqual({ running: 0, queued: 0 });
  await expect(engine.run(light)).resolves.toMatchObject({ kind: 'summary' });
  engine.close();
});

test('a running query does not block the store writer', async () => {
  const engine = new QueryEngine(store.instance, { rollups: 'off', rowBudget: 10_000_000 });
  const controller = new AbortController();
  let queryEnded = false;
  const query = engine.run(heavy, { signal: controller.signal, timeoutMs: 120_000 }).finally(() => (queryEnded = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const r of generateFlowRecords({ seed: 3, count: 2000, startUs: BASE_US, spanUs: 1000 })) store.write(r);
  await store.flush();
  expect(queryEnded).toBe(false); // the flush committed while the query was still running
  expect(store.counters().rowsWritten).toBe(2000);
  controller.abort();
  await expect(query).rejects.toThrow(QueryCancelledError);
  engine.close();
});
