/**
 * Schema migrations: ordered, numbered steps that bring a database file written by an older
 * agent up to SCHEMA_VERSION when the store opens it. A new file is created at the latest
 * version directly (schema.ts); a migrated one must end up with the same tables (a test
 * compares them on a file written by the first release).
 *
 * Rules for a step:
 * - its SQL is frozen text, never derived from schema.ts (which describes the latest
 *   version only), so an old file always migrates the same way;
 * - it runs in one transaction together with the version update: a failed step leaves the
 *   file at the previous version, readable by the agent that wrote it;
 * - new `flows` columns are appended (the appender fills columns by position, in
 *   FLOW_COLUMNS order), existing rows get the value a new record would have had before
 *   the feature existed, and the column ends with the default a new file's has (none,
 *   except the rollup's latency counts and sums);
 * - a released step is never changed or renumbered: files in the field are its output.
 * To add one, append { version: N + 1, ... } to MIGRATIONS.
 *
 * Version 2 is the step the open-flows/latency agents (main, commit acaffc6 on) shipped on
 * their own; the routing-peer step, written at the same time on another branch, became
 * version 3 when the two met, so a version 2 file of those agents migrates like any other
 * (test/fixtures/store-v2 is one). A file claiming a version whose `flows` columns are not
 * that version's (a development build's) is refused before anything runs (checkLayout).
 */
import type { DuckDBConnection } from '@duckdb/node-api';

export interface Migration {
  /** The schema version the step produces (the previous one is version - 1). */
  version: number;
  description: string;
  statements: readonly string[];
}

/** A migration that failed: the file stays at `from` (the step's transaction was rolled back). */
export class MigrationError extends Error {
  constructor(readonly from: number, readonly to: number, cause: unknown) {
    super(`migrating the database from schema version ${from} to ${to} failed (the file is unchanged): ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** ADD COLUMN filling existing rows with `fill`, then dropping the default (new files' columns have none). */
function addColumn(table: string, column: string, type: string, fill: string | null): string[] {
  if (fill === null) return [`ALTER TABLE ${table} ADD COLUMN "${column}" ${type}`];
  return [
    `ALTER TABLE ${table} ADD COLUMN "${column}" ${type} DEFAULT ${fill}`,
    `ALTER TABLE ${table} ALTER COLUMN "${column}" DROP DEFAULT`,
  ];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    // Released first (agents of main since the open-flows work): these are the statements
    // those agents ran, word for word, so their version 2 files are this step's output.
    version: 2,
    description: 'ICMP echo identifier and latency (TCP handshake legs, DNS response time) on every record, latency measures in the rollup (issue 12)',
    statements: [
      'ALTER TABLE flows ADD COLUMN "icmp_id" USMALLINT',
      'ALTER TABLE flows ADD COLUMN "tcp_synack_us" BIGINT',
      'ALTER TABLE flows ADD COLUMN "tcp_ack_us" BIGINT',
      'ALTER TABLE flows ADD COLUMN "dns_rtt_us" BIGINT',
      // rows rolled up before hold no measurement: counts and sums 0 (a new file has these defaults too)
      'ALTER TABLE flows_1m ADD COLUMN handshakes BIGINT DEFAULT 0',
      'ALTER TABLE flows_1m ADD COLUMN synack_us_sum BIGINT DEFAULT 0',
      'ALTER TABLE flows_1m ADD COLUMN ack_us_sum BIGINT DEFAULT 0',
      'ALTER TABLE flows_1m ADD COLUMN handshake_us_max BIGINT',
      'ALTER TABLE flows_1m ADD COLUMN dns_responses BIGINT DEFAULT 0',
      'ALTER TABLE flows_1m ADD COLUMN dns_rtt_us_sum BIGINT DEFAULT 0',
      'ALTER TABLE flows_1m ADD COLUMN dns_rtt_us_max BIGINT',
    ],
  },
  {
    version: 3,
    description: 'routing peer, transit leg, NAT link and translated tuple on every record (issue 12)',
    statements: [
      "CREATE TYPE fm_transit AS ENUM ('ingress', 'egress')",
      ...addColumn('flows', 'peer_name', 'VARCHAR', "''"),
      ...addColumn('flows', 'peer_key', 'VARCHAR', "''"),
      ...addColumn('flows', 'transit', 'fm_transit', null),
      ...addColumn('flows', 'link_id', 'VARCHAR', "''"),
      ...addColumn('flows', 'nat_src_ip', 'VARCHAR', "''"),
      ...addColumn('flows', 'nat_src_port', 'USMALLINT', '0'),
      ...addColumn('flows', 'nat_dst_ip', 'VARCHAR', "''"),
      ...addColumn('flows', 'nat_dst_port', 'USMALLINT', '0'),
      ...addColumn('flows_1m', 'peer_name', 'VARCHAR', "''"),
      ...addColumn('flows_1m', 'peer_key', 'VARCHAR', "''"),
      ...addColumn('flows_1m', 'transit', 'fm_transit', null),
    ],
  },
];

/** The first release's version: files without migrations behind them. */
export const FIRST_SCHEMA_VERSION = 1;
export const SCHEMA_VERSION = MIGRATIONS.length > 0 ? MIGRATIONS[MIGRATIONS.length - 1].version : FIRST_SCHEMA_VERSION;

const ADDS_FLOWS_COLUMN = /^ALTER TABLE flows ADD COLUMN "([^"]+)"/;

/** The `flows` columns of a file at `version`: the latest ones (`latest`, in order) without those later steps add. */
export function flowColumnsAt(version: number, latest: readonly string[], steps: readonly Migration[] = MIGRATIONS): string[] {
  const later = new Set(steps.filter((step) => step.version > version)
    .flatMap((step) => step.statements.map((sql) => ADDS_FLOWS_COLUMN.exec(sql)?.[1]).filter((c): c is string => c !== undefined)));
  return latest.filter((column) => !later.has(column));
}

/**
 * Refuses, before anything runs, a file whose `flows` table is not what its version number
 * says (a development build wrote it): migrating it would fail halfway or, worse, succeed
 * with columns in the wrong places. @throws Error naming what was found.
 */
export async function checkLayout(connection: DuckDBConnection, version: number, latest: readonly string[]): Promise<void> {
  const found = (await connection.runAndReadAll(
    "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND table_name = 'flows' ORDER BY column_index",
  )).getRows().map((row) => String(row[0]));
  const expected = flowColumnsAt(version, latest);
  if (found.join(',') === expected.join(',')) return;
  const extra = found.filter((c) => !expected.includes(c));
  const missing = expected.filter((c) => !found.includes(c));
  throw new Error(
    `database says schema version ${version}, but its flows table is not that version's` +
      ` (${extra.length ? `unexpected columns ${extra.join(', ')}` : ''}${extra.length && missing.length ? '; ' : ''}` +
      `${missing.length ? `missing ${missing.join(', ')}` : ''}${!extra.length && !missing.length ? 'columns in another order' : ''}):` +
      ' a development build of the agent wrote it, and no migration applies; keep it for inspection and use a new --db file',
  );
}

/**
 * Runs every step after `from`, each in its own transaction with the version update.
 * Returns the steps applied. @throws MigrationError (the failed step is rolled back).
 */
export async function migrate(connection: DuckDBConnection, from: number, steps: readonly Migration[] = MIGRATIONS): Promise<Migration[]> {
  const applied: Migration[] = [];
  let version = from;
  for (const step of steps) {
    if (step.version <= version) continue;
    if (step.version !== version + 1) throw new MigrationError(version, step.version, new Error(`no migration from version ${version} to ${version + 1}`));
    await connection.run('BEGIN TRANSACTION');
    try {
      for (const statement of step.statements) await connection.run(statement);
      await connection.run("UPDATE flowmesh_meta SET value = $1 WHERE key = 'schema_version'", [String(step.version)]);
      await connection.run('COMMIT');
    } catch (error) {
      await connection.run('ROLLBACK').catch(() => undefined);
      throw new MigrationError(version, step.version, error);
    }
    version = step.version;
    applied.push(step);
  }
  return applied;
}
