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
 *   the feature existed, and the column ends without a default, as in a new file.
 * To add one, append { version: N + 1, ... } to MIGRATIONS.
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
    version: 2,
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
