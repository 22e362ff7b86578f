/**
 * Store migrations on real files of older versions: one written by the first release
 * (test/fixtures/store-v1), one by the open-flows release (test/fixtures/store-v2, whose
 * own upgrade is step 2 here) and one by the routing-peer release (test/fixtures/store-v3:
 * IPv6 forms, non-ASCII and long names, NAT tuples, with answers to address and name
 * filters and groupings, the ones a change of how addresses and names are stored could
 * break). The store migrates each on open, the migrated tables equal a
 * new file's, the recorded query answers of the version that wrote it are unchanged (fields
 * added later read as not measured / not routed), new records land with their new fields, a
 * failed step leaves the file as it was, and a newer file, or one whose tables are not its
 * version's, is refused.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import pino from 'pino';
import type { FlowRecord } from '../src/model/flow';
import type { Query, QueryResult } from '../src/model/query';
import { generateFlowRecords } from '../src/bench/flow-records';
import { QueryEngine } from '../src/query';
import { FlowStore } from '../src/store';
import { FIRST_SCHEMA_VERSION, MIGRATIONS, migrate, MigrationError, SCHEMA_VERSION, type Migration } from '../src/store/migrations';

const FIXTURES = path.join(__dirname, 'fixtures');
const manual = { rollupIntervalMs: 3_600_000, maintenanceIntervalMs: 3_600_000, flushIntervalMs: 3_600_000, retentionDays: 0 };
/** The fields records gained in version 2, as a record without them reads after migration. */
const V2_DEFAULTS = { icmp_id: null, tcp_synack_us: null, tcp_ack_us: null, dns_rtt_us: null };
/** The fields records gained in version 3, likewise. */
const V3_DEFAULTS = { peer_name: '', peer_key: '', transit: null, link_id: '', nat_src_ip: '', nat_src_port: 0, nat_dst_ip: '', nat_dst_port: 0 };
/** The totals aggregates gained in version 2 (latency), as they read without measurements. */
const V2_TOTALS = { handshakes: 0, synack_us_sum: 0, ack_us_sum: 0, handshake_us_max: 0, dns_responses: 0, dns_rtt_us_sum: 0, dns_rtt_us_max: 0 };

interface Recorded {
  rollups: 'auto' | 'off';
  query: Query;
  result: QueryResult;
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-migrate-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

type FixtureVersion = 1 | 2 | 3;

/** A working copy of fixtures/store-vN/flows-vN.duckdb. */
function fixtureCopy(version: FixtureVersion): string {
  const file = path.join(dir, `flows-v${version}.duckdb`);
  fs.writeFileSync(file, gunzipSync(fs.readFileSync(path.join(FIXTURES, `store-v${version}`, `flows-v${version}.duckdb.gz`))));
  return file;
}
const v1Copy = () => fixtureCopy(1);

function recordedAnswers(version: FixtureVersion): Recorded[] {
  return JSON.parse(gunzipSync(fs.readFileSync(path.join(FIXTURES, `store-v${version}`, `results-v${version}.json.gz`))).toString()) as Recorded[];
}

/** An answer recorded by an older version, as the current engine gives it: every field it had, plus the later ones at their defaults. */
function upgraded(result: QueryResult, from: FixtureVersion): QueryResult {
  const recordDefaults = from === 1 ? { ...V2_DEFAULTS, ...V3_DEFAULTS } : from === 2 ? V3_DEFAULTS : {};
  const withTotals = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(withTotals);
    if (value === null || typeof value !== 'object') return value;
    const object = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withTotals(v)]));
    return from === 1 && 'bytes_tx' in object && 'flows' in object && !('records' in object) ? { ...object, ...V2_TOTALS } : object;
  };
  if (result.kind === 'flows') return { ...result, records: result.records.map((r) => ({ ...r, ...recordDefaults })) };
  return withTotals(result) as QueryResult;
}

/**
 * A flows answer with its next_cursor reduced to the position it holds (order and sort key), the
 * part every cursor version shares: version 2 cursors also carry the database and query they are
 * bound to, so an answer recorded with a version 1 cursor differs there and only there.
 */
function withCursorPosition(result: QueryResult): unknown {
  if (result.kind !== 'flows' || !result.next_cursor) return result;
  const position = (JSON.parse(Buffer.from(result.next_cursor, 'base64url').toString('utf8')) as unknown[]).slice(1, 6);
  return { ...result, next_cursor: position };
}

async function withConnection<T>(file: string, use: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(file);
  const connection = await instance.connect();
  try {
    return await use(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const rows = async (c: DuckDBConnection, sql: string) => (await c.runAndReadAll(sql)).getRows().map((r) => r.map(String).join(' '));

/** Tables, columns and ENUM types of a database file. */
async function schemaOf(file: string) {
  return withConnection(file, async (c) => ({
    version: await rows(c, "SELECT value FROM flowmesh_meta WHERE key = 'schema_version'"),
    flows: await rows(c, "SELECT column_name, data_type, column_default FROM duckdb_columns() WHERE table_name = 'flows' ORDER BY column_index"),
    rollup: (await rows(c, "SELECT column_name, data_type, column_default FROM duckdb_columns() WHERE table_name = 'flows_1m'")).sort(),
    enums: await rows(c, "SELECT type_name, logical_type FROM duckdb_types() WHERE database_name = current_database() AND logical_type = 'ENUM' ORDER BY 1"),
    tables: await rows(c, 'SELECT table_name FROM duckdb_tables() ORDER BY 1'),
  }));
}

describe.each([
  { version: 1 as const, written: 'the first release', steps: [2, 3] },
  { version: 2 as const, written: 'the open-flows release (its own version 2 = step 2)', steps: [3] },
  { version: 3 as const, written: 'the routing-peer release', steps: [] },
])('a file written by $written', ({ version, steps }) => {
  test('migrates on open: same tables as a new file, every recorded answer unchanged', async () => {
    const file = fixtureCopy(version);
    expect((await schemaOf(file)).version).toEqual([String(version)]);
    const logged: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => logged.push(line) });
    const store = await FlowStore.open({ path: file, logger, ...manual });
    const recorded = recordedAnswers(version);
    try {
      expect(logged.filter((l) => l.includes('database migrated')).map((l) => JSON.parse(l).schemaVersion)).toEqual(steps);
      for (const { rollups, query, result } of recorded) {
        const engine = new QueryEngine(store.instance, { rollups });
        try {
          const now = await engine.run(query);
          expect({ rollups, query, result: withCursorPosition(now) }).toEqual({ rollups, query, result: withCursorPosition(upgraded(result, version)) });
        } finally {
          engine.close();
        }
      }
    } finally {
      await store.close();
    }
    const fresh = path.join(dir, 'fresh.duckdb');
    await (await FlowStore.open({ path: fresh, logger: pino({ level: 'silent' }), ...manual })).close();
    const [migrated, created] = [await schemaOf(file), await schemaOf(fresh)];
    expect(migrated).toEqual(created);
    expect(migrated.version).toEqual([String(SCHEMA_VERSION)]);
  });
});

test('new records land in a migrated file with their new fields, raw and rolled up', async () => {
  const file = v1Copy();
  const records = [...generateFlowRecords({ seed: 3, count: 500, startUs: Date.UTC(2026, 0, 1, 1) * 1000, spanUs: 600_000_000 })];
  const peered: FlowRecord = { ...records[0], peer_name: 'gw-exit', peer_key: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=', transit: 'egress',
    link_id: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=', nat_src_ip: '10.0.0.2', nat_src_port: 40000, nat_dst_ip: '203.0.113.5', nat_dst_port: 443 };
  records[0] = peered;
  const store = await FlowStore.open({ path: file, logger: pino({ level: 'silent' }), ...manual, rollupIntervalMs: 50 });
  try {
    for (const r of records) store.write(r);
    await store.flush();
    const engine = new QueryEngine(store.instance, { rollups: 'off' });
    const from = Date.UTC(2026, 0, 1, 1);
    const found = await engine.run({ kind: 'flows', from, to: from + 3_600_000, filters: [{ field: 'flow_id', op: 'eq', value: peered.flow_id }] });
    expect(found.kind === 'flows' && found.records.find((r) => r.seq === peered.seq)).toEqual(peered);
    // the rollup carries the new dimensions too: a rollup-planned top equals the raw one
    const rolledUp = async () => {
      const c = await store.instance.connect();
      try {
        return (await c.runAndReadAll("SELECT count(*) FROM flows_1m WHERE peer_name = 'gw-exit' AND transit = 'egress'")).getRows()[0][0];
      } finally {
        c.closeSync();
      }
    };
    for (let i = 0; i < 100 && (await rolledUp()) === 0n; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await rolledUp()).toBe(1n);
    const top: Query = { kind: 'top', from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 1, 3), group_by: ['peer_name', 'transit'], limit: 0 };
    const viaRollup = new QueryEngine(store.instance, { rollups: 'auto' });
    const [raw, rolled] = [await engine.run(top), await viaRollup.run(top)];
    expect(viaRollup.plans.rollup).toBe(1);
    expect(rolled).toEqual(raw);
    expect(raw.kind === 'top' && raw.rows.find((r) => r.key.peer_name === 'gw-exit' && r.key.transit === 'egress')).toBeTruthy();
    engine.close();
    viaRollup.close();
  } finally {
    await store.close();
  }
});

test('a failing step is rolled back: the file stays at the version it had', async () => {
  const file = v1Copy();
  const before = await schemaOf(file);
  const failing: Migration[] = [{ version: 2, description: 'adds a column, then fails', statements: ['ALTER TABLE flows ADD COLUMN extra VARCHAR', 'SELECT * FROM no_such_table'] }];
  await withConnection(file, async (c) => {
    await expect(migrate(c, FIRST_SCHEMA_VERSION, failing)).rejects.toThrow(MigrationError);
    await expect(migrate(c, FIRST_SCHEMA_VERSION, failing)).rejects.toThrow(/from schema version 1 to 2 failed \(the file is unchanged\): .*no_such_table/);
  });
  expect(await schemaOf(file)).toEqual(before);
  // and a gap in the steps is refused before anything runs
  await withConnection(file, async (c) => {
    await expect(migrate(c, FIRST_SCHEMA_VERSION, [{ version: 3, description: 'skips 2', statements: [] }])).rejects.toThrow(/no migration from version 1 to 2/);
  });
});

test('a file written by a newer agent is refused, untouched', async () => {
  const file = path.join(dir, 'newer.duckdb');
  await (await FlowStore.open({ path: file, logger: pino({ level: 'silent' }), ...manual })).close();
  await withConnection(file, (c) => c.run("UPDATE flowmesh_meta SET value = '99' WHERE key = 'schema_version'"));
  await expect(FlowStore.open({ path: file, logger: pino({ level: 'silent' }), ...manual }))
    .rejects.toThrow(new RegExp(`schema version 99 is newer than this agent's \\(${SCHEMA_VERSION}\\)`));
  expect(fs.readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
});

// A development build of the routing-peer work numbered its step 2 before the open-flows
// release shipped its own version 2: such a file says version 2 but has the routing columns.
test('a file whose tables are not the version it claims is refused before any step runs, untouched', async () => {
  const file = v1Copy();
  const routingStep = MIGRATIONS.find((m) => m.version === 3)!;
  await withConnection(file, async (c) => {
    for (const statement of routingStep.statements) await c.run(statement);
    await c.run("UPDATE flowmesh_meta SET value = '2' WHERE key = 'schema_version'");
  });
  const before = await schemaOf(file);
  await expect(FlowStore.open({ path: file, logger: pino({ level: 'silent' }), ...manual })).rejects.toThrow(
    /database says schema version 2, but its flows table is not that version's \(unexpected columns peer_name, .*nat_dst_port; missing icmp_id, tcp_synack_us, tcp_ack_us, dns_rtt_us\).*use a new --db file/,
  );
  expect(await schemaOf(file)).toEqual(before);
  expect(fs.readdirSync(dir).filter((f) => f.includes('corrupt'))).toEqual([]);
});
