/**
 * The damaged-file policy on real DuckDB files (agent/src/store/open.ts, quarantine.ts):
 * a file that is not a database, a truncated one, a metadata checksum failure and a data
 * block found damaged while running are all moved aside (never deleted) and a fresh database
 * is used; a damaged WAL alone is moved aside and the database kept; a locked file or one of
 * another schema version is refused and left alone. The agent says so in /health (503),
 * /info and metrics until the quarantined file is removed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pino from 'pino';
import { generateFlowRecords } from '../src/bench/flow-records';
import { QueryEngine } from '../src/query';
import { startAgentService } from '../src/server/service';
import { FlowStore, StoreOpenError, type StoreOptionsInput } from '../src/store';

const quiet = pino({ level: 'silent' });
const T0_US = Date.UTC(2026, 2, 1) * 1000;
const HOUR_US = 3_600_000_000;
const manual = { rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000, flushIntervalMs: 3_600_000 };
const AGENT_DIR = path.resolve(__dirname, '..');

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-damage-'));
  dbPath = path.join(dir, 'flows.duckdb');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const open = (extra: Partial<StoreOptionsInput> = {}) => FlowStore.open({ path: dbPath, logger: quiet, ...manual, ...extra });
const records = (seed: number, count: number) => [...generateFlowRecords({ seed, count, startUs: T0_US, spanUs: HOUR_US })];

async function makeDatabase(count: number): Promise<void> {
  const store = await open();
  for (const r of records(1, count)) store.write(r);
  await store.close();
}

/** Reads one figure from a closed database file. */
async function ask(file: string, sql: string): Promise<number> {
  const instance = await DuckDBInstance.create(file);
  const connection = await instance.connect();
  try {
    return Number((await connection.runAndReadAll(sql)).getRows()[0][0]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Overwrites 4 bytes inside block `block` of a database file (its checksum no longer matches). */
async function damageBlock(file: string, block: number): Promise<void> {
  const blockSize = await ask(file, 'SELECT block_size FROM pragma_database_size()');
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, 12_288 + block * blockSize + 4096);
  fs.closeSync(fd);
}

const storedRecords = async (store: FlowStore) => (await store.stats()).storedRecords;

describe('damaged at open: moved aside, a fresh database started, reported until removed', () => {
  const cases: [string, () => Promise<void>][] = [
    ['not a database at all', async () => fs.writeFileSync(dbPath, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)))],
    ['truncated inside the blocks in use', async () => {
      await makeDatabase(40_000);
      fs.truncateSync(dbPath, Math.floor(fs.statSync(dbPath).size * 0.6));
    }],
    ['a metadata block failing its checksum', async () => {
      await makeDatabase(40_000);
      await damageBlock(dbPath, await ask(dbPath, 'SELECT min(block_id) FROM pragma_metadata_info()'));
    }],
  ];
  test.each(cases)('%s', async (_name, damage) => {
    await damage();
    const damaged = fs.readFileSync(dbPath);
    const store = await open();
    const { quarantined, state, problems } = store.health();
    expect(state).toBe('degraded');
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0].path).toMatch(/flows\.duckdb\.corrupt-\d{4}-\d{2}-\d{2}T[\d-]+Z$/);
    expect(fs.readFileSync(quarantined[0].path).equals(damaged)).toBe(true); // moved, byte for byte, never rewritten
    expect(problems[0]).toContain(quarantined[0].path);
    expect(await storedRecords(store)).toBe(0);
    store.write(records(2, 1)[0]);
    await store.flush();
    expect(await storedRecords(store)).toBe(1);
    await store.close();
  });
});

test('the API tells: /health 503 naming the file, /info and metrics; removing the file clears it', async () => {
  fs.writeFileSync(dbPath, 'not a database');
  const service = await startAgentService({
    node: 'n', logger: quiet, http: { listen: '127.0.0.1:0', token: 'damage-test-token' }, store: { path: dbPath, ...manual },
  });
  try {
    const health = await fetch(`${service.address}/health`);
    const body = (await health.json()) as { status: string; problems: string[] };
    expect(health.status).toBe(503);
    expect(body.status).toBe('degraded');
    expect(body.problems.join()).toMatch(/damaged database file moved aside .*flows\.duckdb\.corrupt-/);
    const info = (await (await fetch(`${service.address}/info`, { headers: { authorization: 'Bearer damage-test-token' } })).json()) as {
      store: { state: string; quarantined: { path: string; bytes: number }[] };
    };
    expect(info.store.state).toBe('degraded');
    expect(info.store.quarantined).toEqual([expect.objectContaining({ bytes: 14 })]);
    const metrics = await (await fetch(`${service.address}/metrics`)).text();
    expect(metrics).toContain('flowmesh_store_quarantined_files 1');
    expect(metrics).toContain('flowmesh_store_degraded{condition="quarantined_file"} 1');

    fs.rmSync(info.store.quarantined[0].path);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the listing is cached for a second
    expect((await fetch(`${service.address}/health`)).status).toBe(200);
    expect(await (await fetch(`${service.address}/metrics`)).text()).toContain('flowmesh_store_degraded{condition="quarantined_file"} 0');
  } finally {
    await service.close();
  }
});

test('a damaged WAL alone is moved aside; the database keeps everything checkpointed before it', async () => {
  await makeDatabase(5000);
  // A second process commits more rows to the WAL and dies before any checkpoint.
  const script = `
    const { DuckDBInstance } = require('@duckdb/node-api');
    DuckDBInstance.create(${JSON.stringify(dbPath)}, { checkpoint_threshold: '1TB' }).then(async (instance) => {
      const connection = await instance.connect();
      await connection.run("INSERT INTO flowmesh_meta SELECT 'k' || range, md5(range::VARCHAR) FROM range(20000)");
      process.exit(0);
    });`;
  execFileSync(process.execPath, ['-e', script], { cwd: AGENT_DIR, stdio: 'pipe' });
  const wal = `${dbPath}.wal`;
  expect(fs.statSync(wal).size).toBeGreaterThan(100_000);
  const fd = fs.openSync(wal, 'r+');
  fs.writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, 4000);
  fs.closeSync(fd);

  const store = await open();
  const { quarantined } = store.health();
  expect(quarantined.map((q) => path.basename(q.path))).toEqual([expect.stringMatching(/^flows\.duckdb\.corrupt-.*\.wal$/)]);
  expect(fs.existsSync(dbPath)).toBe(true);
  expect(await storedRecords(store)).toBe(5000);
  await store.close();
});

describe('a data block found damaged while running: quarantined without a restart', () => {
  beforeEach(async () => {
    await makeDatabase(40_000);
    // A block of bytes_tx data (what a summary reads) that the open does not read (metadata, the rid column).
    const block = await ask(dbPath, `SELECT min(block_id) FROM pragma_storage_info('flows') WHERE block_id >= 0 AND column_name = 'bytes_tx'
      AND block_id NOT IN (SELECT block_id FROM pragma_storage_info('flows') WHERE column_name = 'rid')
      AND block_id NOT IN (SELECT block_id FROM pragma_metadata_info())`);
    await damageBlock(dbPath, block);
  });

  test('by a query: it fails as unavailable, the held records go to a fresh database', async () => {
    const store = await open();
    expect(store.health().state).toBe('ok'); // data blocks are only read by whoever needs them
    const engine = new QueryEngine(store, { rollups: 'off' });
    const everything = { from: 0, to: Date.now() };
    await expect(engine.run({ kind: 'summary', ...everything })).rejects.toMatchObject({ name: 'StoreUnavailableError' });
    const held = records(4, 500);
    for (const r of held) store.write(r);
    await store.flush(); // after the repair: moved aside, fresh database, the held records written there
    const health = store.health();
    expect(health.state).toBe('degraded');
    expect(health.quarantined).toHaveLength(1);
    expect(store.counters()).toMatchObject({ reopens: 1, rowsWritten: held.length, backlog: 0 });
    expect(await engine.run({ kind: 'summary', ...everything })).toMatchObject({ records: held.length });
    engine.close();
    await store.close();
    expect(await ask(health.quarantined[0].path, 'SELECT count(*) FROM flows')).toBe(40_000);
  });

  test('by the first maintenance pass, which reads every block once', async () => {
    const store = await open();
    await store.runMaintenance();
    await store.flush();
    expect(store.health().quarantined).toHaveLength(1);
    expect(store.counters().reopens).toBe(1);
    await store.close();
  });
});

describe('refused and left alone', () => {
  test('a database locked by another process', async () => {
    const store = await open();
    await store.flush();
    const script = `require('@duckdb/node-api').DuckDBInstance.create(${JSON.stringify(dbPath)})
      .then(() => process.exit(0), (e) => { console.error(String(e)); process.exit(3); })`;
    let status = 0;
    try {
      execFileSync(process.execPath, ['-e', script], { cwd: AGENT_DIR, stdio: 'pipe' });
    } catch (error) {
      status = (error as { status: number }).status;
    }
    expect(status).toBe(3);
    expect(fs.readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
    await store.close();
  });

  test('a database of another schema version', async () => {
    await makeDatabase(10);
    const instance = await DuckDBInstance.create(dbPath);
    const connection = await instance.connect();
    await connection.run("UPDATE flowmesh_meta SET value = '999' WHERE key = 'schema_version'");
    connection.closeSync();
    instance.closeSync();
    await expect(open()).rejects.toThrow(StoreOpenError);
    await expect(open()).rejects.toThrow(/schema version 999/);
    expect(fs.readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
    expect(await ask(dbPath, 'SELECT count(*) FROM flows')).toBe(10);
  });
});
