/**
 * Store and query benchmark (a script, not a test): `node --expose-gc agent/dist/bench/store.js [--quick]
 * [--records N] [--days D] [--runs R] [--dir DIR] [--keep]` (or bench/store/run.sh).
 *
 * Measures, on synthetic records (agent/src/bench/flow-records.ts):
 * - write rate through FlowStore.write() + flush() (validation, columnar chunks, appender,
 *   commit), record generation excluded; the background roll-up catch-up rate separately;
 *   as a reference, DuckDB's own read_json ingest of the same records from a JSON-lines file;
 * - the floor under any write path into this schema: our chunk building alone, DuckDB's
 *   appender taking the chunks into a table (no commit), and DuckDB alone copying the same
 *   records from an in-memory table into a file (INSERT ... SELECT, CHECKPOINT: compression
 *   and writing on all its threads), each in CPU per record;
 * - CPU per record written in the live agent's transactions (STORE_DEFAULTS.batchSize records
 *   each, close and its checkpoint included) at DuckDB's default checkpoint threshold and at
 *   the store's, runs interleaved;
 * - database bytes per record after a checkpoint;
 * - median and p95 latency of: top 10 src_ip over the last 24 h, a 1-minute timeseries over
 *   24 h (rollups on and off), a filtered flows page and its next page.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pino from 'pino';
import type { FlowRecord } from '../model/flow';
import type { Query } from '../model/query';
import { QueryEngine } from '../query';
import { FlowStore, STORE_DEFAULTS } from '../store';
import { FlowChunkWriter } from '../store/append';
import { STORE_DUCKDB_DEFAULTS } from '../store/open';
import { ENUM_TYPES, tableDdl, typeDdl } from '../store/schema';
import { generateFlowRecords } from './flow-records';

interface Args {
  records: number;
  days: number;
  runs: number;
  dir: string | null;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { records: 10_000_000, days: 1, runs: 15, dir: null, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return v;
    };
    switch (argv[i]) {
      case '--quick': args.records = 200_000; args.runs = 9; break;
      case '--records': args.records = Number(value()); break;
      case '--days': args.days = Number(value()); break;
      case '--runs': args.runs = Number(value()); break;
      case '--dir': args.dir = value(); break;
      case '--keep': args.keep = true; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!Number.isInteger(args.records) || args.records < 1000) throw new Error('--records: an integer >= 1000');
  return args;
}

const GENERATION_CHUNK = 250_000;
/** Records a yielding producer writes per event-loop turn. */
const YIELDING_BURST = 20_000;
const JSON_REFERENCE_MAX = 1_000_000;
/** Interleaved rounds of the live-sized transaction comparison. */
const LIVE_TRANSACTION_ROUNDS = 3;
/** Records per appender flush in the floor measurement (DuckDB's appender flushes by itself at 204,800 rows). */
const FLOOR_PART = 100_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** CPU time (µs) of the calling (JS main) thread, from /proc on Linux; null elsewhere. */
function mainThreadCpuMicros(): number | null {
  try {
    const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** CPU time (µs) of the whole process (all threads). */
function processCpuMicros(): number {
  const used = process.cpuUsage();
  return used.user + used.system;
}

/**
 * What DuckDB itself costs per record of this schema, with nothing of ours around it: the
 * records go through our chunk builder into an appender on an in-memory table (building
 * and DuckDB's append timed apart, on the JS thread), then DuckDB copies that table into a
 * new file in one statement and checkpoints it (compression and writing, on its threads).
 */
async function measureDuckDbFloor(records: FlowRecord[], dir: string): Promise<[string, string][]> {
  const instance = await DuckDBInstance.create(':memory:', { ...STORE_DUCKDB_DEFAULTS });
  const connection = await instance.connect();
  try {
    const schema = [...typeDdl(Object.keys(ENUM_TYPES)), tableDdl()[0]];
    for (const statement of schema) await connection.run(statement);
    const appender = await connection.createAppender('flows');
    const writer = await FlowChunkWriter.forAppender(appender);
    collectGarbage?.();
    const perRecord = (micros: number) => `${(micros / records.length).toFixed(2)} µs`;
    // in parts smaller than the appender's own flush threshold, so each part's build and flush are timed apart
    let buildMicros = 0;
    let flushMicros = 0;
    for (let offset = 0; offset < records.length; offset += FLOOR_PART) {
      const part = records.slice(offset, offset + FLOOR_PART);
      const built = mainThreadCpuMicros();
      writer.append(appender, part, offset);
      const flushing = mainThreadCpuMicros();
      appender.flushSync();
      const flushed = mainThreadCpuMicros();
      if (built === null || flushing === null || flushed === null) continue;
      buildMicros += flushing - built;
      flushMicros += flushed - flushing;
    }
    appender.closeSync();
    const file = path.join(dir, 'floor.duckdb');
    await connection.run(`ATTACH '${file.replace(/'/g, "''")}' AS floor (STORAGE_VERSION '${STORE_DUCKDB_DEFAULTS.storage_compatibility_version}')`);
    await connection.run('USE floor');
    for (const statement of schema) await connection.run(statement);
    const started = process.hrtime.bigint();
    const cpu = processCpuMicros();
    await connection.run('INSERT INTO floor.flows SELECT * FROM memory.flows');
    await connection.run('CHECKPOINT floor');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const copyMicros = processCpuMicros() - cpu;
    const rows: [string, string][] = [];
    if (buildMicros > 0) {
      rows.push(['floor: our chunk building + appendDataChunk, per record (JS thread)', perRecord(buildMicros)]);
      rows.push(["floor: DuckDB appender flush into a table, per record (JS thread)", perRecord(flushMicros)]);
    }
    rows.push(['floor: DuckDB alone, memory -> file (INSERT ... SELECT, CHECKPOINT)',
      `${Math.round(records.length / seconds).toLocaleString()} records/s, ${perRecord(copyMicros)} CPU`]);
    return rows;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * CPU per record when records arrive as in live capture, slower than the store writes them:
 * each transaction holds the store's batch size (a flush starts when that many wait) and is
 * committed before the next records come, close included: a larger
 * checkpoint threshold defers compression to later checkpoints and the close, so only the
 * whole run compares fairly.
 */
async function measureLiveTransactions(
  chunks: (count: number, seed: number) => Iterable<FlowRecord[]>, count: number, dir: string,
): Promise<[string, string][]> {
  const settings: [string, Record<string, string>][] = [
    ["DuckDB's default checkpoint threshold (16 MB)", { checkpoint_threshold: '16MB' }],
    ["the store's (128 MB, maintenance checkpoints from 16 MB)", {}],
  ];
  const cpuPerRecord = settings.map((): number[] => []);
  for (let round = 0; round < LIVE_TRANSACTION_ROUNDS; round++) {
    for (let i = 0; i < settings.length; i++) {
      const file = path.join(dir, `live-${i}.duckdb`);
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}.wal`, { force: true });
      const store = await FlowStore.open({ path: file, logger: pino({ level: 'warn' }), duckdb: settings[i][1], rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000 });
      let micros = 0;
      for (const chunk of chunks(count, 4)) {
        collectGarbage?.();
        const started = processCpuMicros();
        for (let offset = 0; offset < chunk.length; offset += STORE_DEFAULTS.batchSize) {
          for (let j = offset; j < Math.min(chunk.length, offset + STORE_DEFAULTS.batchSize); j++) store.write(chunk[j]);
          await store.flush();
        }
        micros += processCpuMicros() - started;
        progress(`live-sized transactions, round ${round + 1}, ${settings[i][0]}`);
      }
      const closing = processCpuMicros();
      await store.close();
      micros += processCpuMicros() - closing;
      cpuPerRecord[i].push(micros / count);
      fs.rmSync(file, { force: true });
    }
  }
  return settings.map(([name], i) => {
    const sorted = [...cpuPerRecord[i]].sort((a, b) => a - b);
    return [`CPU per record in live-sized transactions (${STORE_DEFAULTS.batchSize.toLocaleString()}), ${name}`,
      `${sorted[Math.floor(sorted.length / 2)].toFixed(2)} µs (${sorted[0].toFixed(2)}–${sorted[sorted.length - 1].toFixed(2)}, ${sorted.length} runs, close included)`];
  });
}

const collectGarbage = (globalThis as { gc?: () => void }).gc;

interface WriteFigures {
  describe: (records: number) => string;
  cpu: (records: number) => string;
}

/** Writes every chunk (generation and `prepare` untimed), `burst` records per event-loop turn, flushing after each chunk. */
async function measureWrites(
  store: FlowStore, chunks: Iterable<FlowRecord[]>, burst: number, prepare?: (chunk: FlowRecord[]) => void,
): Promise<WriteFigures> {
  let seconds = 0;
  let cpuMicros = 0;
  let mainMicros = 0;
  let written = 0;
  for (const chunk of chunks) {
    prepare?.(chunk);
    collectGarbage?.(); // the generator's garbage is the producer's cost, not the store's
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const mainBefore = mainThreadCpuMicros();
    for (let i = 0; i < chunk.length; i += burst) {
      for (let j = i; j < Math.min(chunk.length, i + burst); j++) store.write(chunk[j]);
      if (i + burst < chunk.length) await new Promise((resolve) => setImmediate(resolve));
    }
    await store.flush();
    seconds += Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    cpuMicros += used.user + used.system;
    const mainAfter = mainThreadCpuMicros();
    if (mainBefore !== null && mainAfter !== null) mainMicros += mainAfter - mainBefore;
    written += chunk.length;
    progress(`writing ${written.toLocaleString()}`);
  }
  return {
    describe: (records) => `${Math.round(records / seconds).toLocaleString()} records/s`,
    cpu: (records) =>
      `${(cpuMicros / records).toFixed(2)} / ${mainMicros > 0 ? (mainMicros / records).toFixed(2) : '?'} µs` +
      ` (${Math.round(records / (cpuMicros / 1e6)).toLocaleString()} records per CPU-second)`,
  };
}

function progress(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`.padEnd(70));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = args.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bench-store-'));
  try {
    await run(args, dir);
  } finally {
    if (!args.keep && !args.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function run(args: Args, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const dbPath = path.join(dir, 'bench.duckdb');
  fs.rmSync(dbPath, { force: true });
  fs.rmSync(`${dbPath}.wal`, { force: true });
  const spanUs = args.days * 86_400_000_000;
  const endMs = Date.UTC(2026, 0, 10);
  const startUs = endMs * 1000 - spanUs;
  const rows: [string, string][] = [];

  // 1. Write path.
  let store = await FlowStore.open({ path: dbPath, logger: pino({ level: 'warn' }), rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000 });
  const jsonPath = path.join(dir, 'bench.jsonl');
  const jsonFd = args.records <= JSON_REFERENCE_MAX ? fs.openSync(jsonPath, 'w') : null;
  const chunks = function* (count: number, seed: number) {
    const generator = generateFlowRecords({ seed, count, startUs, spanUs });
    for (let done = 0; done < count; ) {
      const chunk = [];
      for (let i = 0; i < GENERATION_CHUNK && done < count; i++, done++) chunk.push(generator.next().value!);
      yield chunk;
    }
  };
  // A producer that yields to the event loop between bursts, like live capture: async flushes.
  const yielding = await measureWrites(store, chunks(args.records, 1), YIELDING_BURST, (chunk) => {
    if (jsonFd !== null) fs.writeSync(jsonFd, chunk.map((r) => JSON.stringify(r)).join('\n') + '\n');
  });
  const rollupStarted = process.hrtime.bigint();
  await store.rollUp();
  const rollupSeconds = Number(process.hrtime.bigint() - rollupStarted) / 1e9;
  await store.compactRollups();
  await store.close();
  const dbBytes = fs.statSync(dbPath).size;
  store = await FlowStore.open({ path: dbPath, logger: pino({ level: 'warn' }), rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000 });
  const stats = await store.stats();
  rows.push(['records stored', stats.storedRecords.toLocaleString()]);
  rows.push(['rollup rows', stats.rollupRows.toLocaleString()]);
  rows.push(['write rate, yielding producer (live capture)', yielding.describe(args.records)]);
  rows.push(['CPU per record written, yielding producer (all threads / JS thread)', yielding.cpu(args.records)]);
  // A producer that never yields (a capture file read in one native call): synchronous writes.
  const burstCount = Math.min(args.records, 1_000_000);
  const burstStore = await FlowStore.open({ path: path.join(dir, 'burst.duckdb'), logger: pino({ level: 'warn' }), rollupIntervalMs: 3_600_000 });
  const burst = await measureWrites(burstStore, chunks(burstCount, 2), Number.MAX_SAFE_INTEGER);
  await burstStore.close();
  rows.push([`write rate, non-yielding producer (import), ${burstCount.toLocaleString()}`, burst.describe(burstCount)]);
  rows.push(['CPU per record written, non-yielding producer (all threads / JS thread)', burst.cpu(burstCount)]);
  if (!collectGarbage) rows.push(['  (note)', 'run with node --expose-gc to keep generator GC out of the write figures']);
  rows.push(['roll-up catch-up rate', `${Math.round(args.records / rollupSeconds).toLocaleString()} records/s`]);
  rows.push(['database size (after checkpoint)', `${(dbBytes / 1024 / 1024).toFixed(1)} MiB, ${(dbBytes / args.records).toFixed(1)} bytes/record`]);

  rows.push(...(await measureLiveTransactions(chunks, Math.min(args.records, JSON_REFERENCE_MAX), dir)));
  const floorRecords = [...chunks(Math.min(args.records, JSON_REFERENCE_MAX), 3)].flat();
  rows.push(...(await measureDuckDbFloor(floorRecords, dir)));
  floorRecords.length = 0;

  if (jsonFd !== null) {
    fs.closeSync(jsonFd);
    const instance = await DuckDBInstance.create(path.join(dir, 'reference.duckdb'));
    const connection = await instance.connect();
    const started = process.hrtime.bigint();
    await connection.run(`CREATE TABLE ref AS SELECT * FROM read_json('${jsonPath.replace(/'/g, "''")}', format = 'newline_delimited')`);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    connection.closeSync();
    instance.closeSync();
    fs.rmSync(jsonPath);
    rows.push(['reference: DuckDB read_json of the same JSON lines into a file', `${Math.round(args.records / seconds).toLocaleString()} records/s`]);
  }

  // 2. Queries over the last 24 h.
  const day = { from: endMs - 86_400_000, to: endMs };
  const flowsQuery: Query = {
    kind: 'flows', ...day, limit: 100,
    filters: [{ field: 'protocol', op: 'eq', value: 'tcp' }, { field: 'dst_port', op: 'in', values: [443, 22] }, { field: 'bytes', op: 'gt', value: 10_000 }],
  };
  const queries: [string, Query, 'auto' | 'off'][] = [
    ['top 10 src_ip, 24 h (rollup)', { kind: 'top', ...day, group_by: ['src_ip'], limit: 10 }, 'auto'],
    ['top 10 src_ip, 24 h (raw)', { kind: 'top', ...day, group_by: ['src_ip'], limit: 10 }, 'off'],
    ['timeseries 1 min, 24 h (rollup)', { kind: 'timeseries', ...day, interval_ms: 60_000 }, 'auto'],
    ['timeseries 1 min, 24 h (raw)', { kind: 'timeseries', ...day, interval_ms: 60_000 }, 'off'],
    ['timeseries 1 min by direction, 24 h (rollup)', { kind: 'timeseries', ...day, interval_ms: 60_000, split_by: ['direction'] }, 'auto'],
    ['filtered flows page (100, 3 filters)', flowsQuery, 'off'],
  ];
  const engines = {
    auto: new QueryEngine(store.instance, { rollupMinRangeMs: 3_600_000, timeoutMs: 600_000 }),
    off: new QueryEngine(store.instance, { rollups: 'off', timeoutMs: 600_000 }),
  };
  const firstPage = await engines.off.run(flowsQuery);
  const cursor = firstPage.kind === 'flows' ? firstPage.next_cursor : null;
  if (cursor) queries.push(['filtered flows, next page (cursor)', { ...flowsQuery, cursor } as Query, 'off']);
  const latency: [string, string][] = [];
  for (const [name, query, mode] of queries) {
    const times: number[] = [];
    await engines[mode].run(query); // warm
    for (let i = 0; i < args.runs; i++) {
      const started = performance.now();
      await engines[mode].run(query);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    latency.push([name, `median ${percentile(times, 0.5).toFixed(1)} ms, p95 ${percentile(times, 0.95).toFixed(1)} ms`]);
    progress(name);
  }
  engines.auto.close();
  engines.off.close();
  await store.close();

  progress('');
  const width = Math.max(...[...rows, ...latency].map(([k]) => k.length)) + 2;
  const print = (pairs: [string, string][]) => pairs.forEach(([k, v]) => console.log(`  ${k.padEnd(width)}${v}`));
  console.log(`\nFlowmesh store benchmark: ${args.records.toLocaleString()} records over ${args.days} day(s), ${os.cpus().length} CPUs, node ${process.version}`);
  print(rows);
  console.log(`\nQuery latency over the last 24 h (${args.runs} runs each):`);
  print(latency);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
