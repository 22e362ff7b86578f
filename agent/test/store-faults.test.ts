/**
 * The store when the disk refuses writes, on real filesystems (small tmpfs mounts, as root):
 * a checkpoint that fails for lack of space (DuckDB invalidates the database: the store
 * reopens it), a WAL append that fails, the memory backlog then the disk spill then counted
 * drops, and a close while writes fail. Throughout: received = written + held + dropped,
 * exactly; no record is stored twice; what was committed before survives.
 *
 * The disk is filled by another file (then deleted) or the tmpfs is grown. A read-only
 * remount cannot be made here (Linux refuses it while the database is open for writing) and
 * an I/O error needs device-mapper, which this machine lacks: those errors take the same
 * path, with their own kind (classification is tested in store.test.ts).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pino from 'pino';
import { generateFlowRecords } from '../src/bench/flow-records';
import type { FlowRecord } from '../src/model/flow';
import { QueryEngine } from '../src/query';
import { FlowStore, type StoreOptionsInput } from '../src/store';
import { DiskSpill } from '../src/store/spill';
import { privileged } from './support/privileged';

const quiet = pino({ level: 'silent' });
const T0_US = Date.UTC(2026, 2, 1) * 1000;
const HOUR_US = 3_600_000_000;
const manual = { rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000, flushIntervalMs: 3_600_000, retryInitialMs: 1, retryMaxMs: 1 };
const records = (seed: number, count: number) => [...generateFlowRecords({ seed, count, startUs: T0_US, spanUs: HOUR_US })];
const key = (r: Pick<FlowRecord, 'flow_id' | 'seq'>) => `${r.flow_id}/${r.seq}`;

function expectAccounted(store: FlowStore): void {
  const c = store.counters();
  expect(c.received).toBe(c.rowsWritten + c.backlog + c.backlogDropped);
}

/** The (flow_id, seq) of every stored row, and how many distinct rids they have. */
async function storedKeys(dbPath: string): Promise<{ keys: string[]; rids: number }> {
  const instance = await DuckDBInstance.create(dbPath);
  const connection = await instance.connect();
  try {
    const rows = (await connection.runAndReadAll('SELECT flow_id, seq FROM flows')).getRowObjectsJson() as unknown as FlowRecord[];
    const rids = Number((await connection.runAndReadAll('SELECT count(DISTINCT rid) FROM flows')).getRows()[0][0]);
    return { keys: rows.map(key).sort(), rids };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const mount = (dir: string, size: string) => execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
const remount = (dir: string, options: string) => execFileSync('mount', ['-o', `remount,${options}`, dir]);

/** Takes every free byte of the filesystem with a file; deleting it gives the space back. */
function fill(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = fs.openSync(filler, 'w');
  const chunk = Buffer.alloc(1 << 16, 1);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}

privileged('the store fault tests (they mount small tmpfs filesystems)').describe('storage failures on real filesystems', () => {
  let base: string;
  let dbDir: string;
  let spillDir: string;
  const stores: FlowStore[] = [];
  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-faults-'));
    dbDir = path.join(base, 'db');
    spillDir = path.join(base, 'spill');
    fs.mkdirSync(dbDir);
    fs.mkdirSync(spillDir);
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close().catch(() => undefined);
    for (const dir of [dbDir, spillDir]) {
      try {
        execFileSync('umount', [dir]);
      } catch {
        // not mounted
      }
    }
    fs.rmSync(base, { recursive: true, force: true });
  });
  const open = async (extra: Partial<StoreOptionsInput>) => {
    const store = await FlowStore.open({ path: path.join(dbDir, 'f.duckdb'), logger: quiet, ...manual, ...extra });
    stores.push(store);
    return store;
  };

  test('a checkpoint failing for lack of space: the invalidated database is reopened, queries go on, nothing committed is lost, the rest is written once space returns', async () => {
    mount(dbDir, '3m');
    // A low checkpoint threshold makes commits checkpoint (as a 16 MB WAL does by default), so the full disk fails a checkpoint.
    const store = await open({ duckdb: { checkpoint_threshold: '1MB' } });
    const engine = new QueryEngine(store, { rollups: 'off' });
    const written = records(6, 60_000);
    const everything = { from: 0, to: Date.now() };
    for (let i = 0; i < written.length && store.counters().reopens === 0; i += 5000) {
      for (const r of written.slice(i, i + 5000)) store.write(r);
      await store.flush().catch(() => undefined);
      expectAccounted(store);
    }
    const during = store.counters();
    expect(during.reopens).toBeGreaterThanOrEqual(1); // DuckDB invalidated the database and the store opened it again
    expect(during.errors.disk_full).toBeGreaterThan(0);
    expect(during.rowsWritten).toBeGreaterThan(0);
    expect(during.backlog).toBeGreaterThan(0);
    expect(store.health()).toMatchObject({ state: 'degraded', problems: [expect.stringContaining('the disk is full')] });
    // Queries answer from the reopened database meanwhile, with every record committed before.
    let answered: { records: number } | null = null;
    for (let attempt = 0; attempt < 50 && !answered; attempt++) {
      answered = await engine.run({ kind: 'summary', ...everything }).catch(() => null) as { records: number } | null;
      if (!answered) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(answered?.records).toBe(store.counters().rowsWritten);

    remount(dbDir, 'size=256m');
    for (const r of written.slice(store.counters().received)) store.write(r);
    await store.flush();
    const after = store.counters();
    expect(after).toMatchObject({ received: written.length, rowsWritten: written.length, backlog: 0, backlogDropped: 0 });
    expect(store.health().state).toBe('ok');
    expect(await engine.run({ kind: 'summary', ...everything })).toMatchObject({ records: written.length });
    engine.close();
    await store.close();
    const stored = await storedKeys(path.join(dbDir, 'f.duckdb'));
    expect(stored.rids).toBe(written.length);
    expect(stored.keys).toEqual(written.map(key).sort()); // each exactly once
  });

  test('a WAL append failing for lack of space: writes are held, the store says why, and writes them once there is space', async () => {
    mount(dbDir, '64m');
    const store = await open({});
    const first = records(7, 1000);
    for (const r of first) store.write(r);
    await store.flush();
    const filler = fill(dbDir);
    const second = records(8, 5000);
    for (const r of second) store.write(r);
    await expect(store.flush()).rejects.toThrow(/No space left/);
    expect(store.counters()).toMatchObject({ rowsWritten: 1000, backlog: 5000 });
    // include_open queries see the held records, and not the failed transaction's rows should it have landed
    const pending = store.pendingView();
    expect(pending.records).toHaveLength(5000);
    expect(pending.hiddenRids.reduce((n, [from, to]) => n + to - from, 0)).toBeLessThanOrEqual(5000);
    expect(store.health().problems[0]).toMatch(/^writes failing since .*: the disk is full .*; 5,000 records held; retrying$/);
    expectAccounted(store);
    fs.rmSync(filler);
    await store.flush();
    expect(store.counters()).toMatchObject({ received: 6000, rowsWritten: 6000, backlog: 0 });
    expect(store.pendingView()).toMatchObject({ records: [], hiddenRids: [] });
    expect(store.health().state).toBe('ok');
    await store.close();
    expect((await storedKeys(path.join(dbDir, 'f.duckdb'))).keys).toEqual([...first, ...second].map(key).sort());
  });

  test('memory, then spill files, then counted drops — exact; held records are written once writes work', async () => {
    mount(dbDir, '64m');
    mount(spillDir, '16m');
    // 1000 records in memory; spill files of 250 records (~160 kB each), at most 600 kB of them: 3 files.
    const store = await open({ maxBacklog: 1000, batchSize: 250, spillDir, spillMaxBytes: 600_000 });
    const filler = fill(dbDir);
    const written = records(9, 3000);
    for (const r of written) expect(() => store.write(r)).not.toThrow();
    await expect(store.flush()).rejects.toThrow();
    expect(store.counters()).toMatchObject({ received: 3000, rowsWritten: 0, backlog: 1750, spilledRecords: 750, dropped: { full: 1250, invalid: 0, shutdown: 0 } });
    expect(fs.readdirSync(spillDir)).toHaveLength(3);
    fs.rmSync(filler);
    await store.flush();
    expect(store.counters()).toMatchObject({ rowsWritten: 1750, backlog: 0, spilledRecords: 0, backlogDropped: 1250 });
    expect(fs.readdirSync(spillDir)).toEqual([]);
    await store.close();
    const stored = await storedKeys(path.join(dbDir, 'f.duckdb'));
    expect(stored.rids).toBe(1750);
    expect(new Set(stored.keys).size).toBe(1750);
    const all = new Set(written.map(key));
    expect(stored.keys.every((k) => all.has(k))).toBe(true);
  });

  test('closed while writes fail: the held records go to spill files, and the next start writes them', async () => {
    mount(dbDir, '64m');
    mount(spillDir, '16m');
    const options = { maxBacklog: 1000, batchSize: 250, spillDir };
    const store = await open(options);
    const filler = fill(dbDir);
    const written = records(10, 1500);
    for (const r of written) store.write(r);
    await store.close();
    expect(store.counters()).toMatchObject({ received: 1500, rowsWritten: 0, backlog: 1500, spilledRecords: 1500, backlogDropped: 0 });

    fs.rmSync(filler);
    const next = await open(options);
    expect(next.counters()).toMatchObject({ received: 1500, backlog: 1500 });
    await next.flush();
    expect(next.counters()).toMatchObject({ rowsWritten: 1500, backlog: 0 });
    await next.close();
    expect(fs.readdirSync(spillDir)).toEqual([]);
    expect((await storedKeys(path.join(dbDir, 'f.duckdb'))).keys).toEqual(written.map(key).sort());
  });
});

test('a spill file whose transaction committed before a crash is not stored twice; one that did not is stored', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-spill-'));
  const dbPath = path.join(dir, 'f.duckdb');
  const spillDir = path.join(dir, 'spill');
  try {
    const committed = records(11, 300);
    const store = await FlowStore.open({ path: dbPath, logger: quiet, ...manual });
    for (const r of committed) store.write(r);
    await store.close(); // rids 0..299
    // What a crash between a spill file's commit and its deletion leaves, and one whose commit never happened.
    const spill = DiskSpill.open(spillDir, 1e9, dbPath);
    spill.write(committed, { firstRid: 0, count: 300 });
    const pending = records(12, 200);
    spill.write(pending, { firstRid: 5000, count: 200 });

    const reopened = await FlowStore.open({ path: dbPath, logger: quiet, ...manual, spillDir });
    await reopened.flush();
    expect(reopened.counters()).toMatchObject({ received: 500, rowsWritten: 500, backlog: 0, backlogDropped: 0 });
    await reopened.close();
    expect(fs.readdirSync(spillDir)).toEqual([]);
    expect((await storedKeys(dbPath)).keys).toEqual([...committed, ...pending].map(key).sort());
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
