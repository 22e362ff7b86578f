/**
 * Opening the database file, creating or migrating the schema (migrations.ts), and the one recovery we do on our own:
 * a file DuckDB cannot read as a database (garbage, truncated, broken WAL) is moved aside
 * as `<name>.corrupt-<timestamp>` (with its WAL) and a fresh database is started, so the
 * agent keeps capturing. Errors that do not mean corruption (the file is locked by another
 * process, permissions, a missing directory) are thrown: moving a healthy file aside would
 * hide data.
 */
import fs from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Logger } from 'pino';
import { ENUM_TYPES, FLOW_COLUMNS, tableDdl, typeDdl } from './schema';
import { checkLayout, FIRST_SCHEMA_VERSION, migrate, MigrationError, SCHEMA_VERSION, type Migration } from './migrations';

const CORRUPTION = /not a valid DuckDB database|WAL|corrupt|checksum|serializ|INTERNAL Error|unable to read|could not read/i;
const NOT_CORRUPTION = /lock|permission denied|no such file or directory|read-only/i;

export function isCorruptionError(error: unknown): boolean {
  const message = String((error as Error)?.message ?? error);
  return CORRUPTION.test(message) && !NOT_CORRUPTION.test(message);
}

/** The file's schema version; null for a new (empty) database. */
async function storedVersion(connection: DuckDBConnection): Promise<number | null> {
  const meta = await connection.runAndReadAll(
    "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND table_name = 'flowmesh_meta'",
  );
  if (meta.currentRowCount === 0) return null;
  const version = await connection.runAndReadAll("SELECT value FROM flowmesh_meta WHERE key = 'schema_version'");
  return version.currentRowCount === 0 ? null : Number(version.getRows()[0][0]);
}

/**
 * Creates the latest schema in a new database, or migrates an older file to it. Returns the
 * migration steps applied (none for a new or current file).
 * @throws MigrationError, or an Error for a file written by a newer agent or one whose
 * tables are not what its version says.
 */
export async function createSchema(connection: DuckDBConnection): Promise<Migration[]> {
  const version = await storedVersion(connection);
  if (version === null) {
    const existing = await connection.runAndReadAll(
      "SELECT type_name FROM duckdb_types() WHERE database_name = current_database() AND logical_type = 'ENUM'",
    );
    const present = new Set(existing.getRows().map((row) => String(row[0])));
    const missing = Object.keys(ENUM_TYPES).filter((name) => !present.has(name));
    await connection.run('BEGIN TRANSACTION');
    try {
      for (const statement of [...typeDdl(missing), ...tableDdl()]) await connection.run(statement);
      await connection.run("INSERT INTO flowmesh_meta VALUES ('schema_version', $1)", [String(SCHEMA_VERSION)]);
      await connection.run('COMMIT');
    } catch (error) {
      await connection.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
    return [];
  }
  if (Number.isInteger(version) && version > SCHEMA_VERSION) {
    throw new Error(`database schema version ${String(version)} is newer than this agent's (${SCHEMA_VERSION}); use a newer agent or a new --db file`);
  }
  if (!Number.isInteger(version) || version < FIRST_SCHEMA_VERSION) {
    throw new Error(`database schema version ${String(version)} is not one this agent knows (${FIRST_SCHEMA_VERSION} to ${SCHEMA_VERSION}); use a new --db file`);
  }
  await checkLayout(connection, version, FLOW_COLUMNS.map(([name]) => name));
  return migrate(connection, version);
}

/**
 * DuckDB settings the store opens its file with (the caller's own take precedence).
 * storage_compatibility_version: a new file gets DuckDB 1.3's storage format instead of the
 * default (readable by DuckDB 0.10), whose combined dictionary + FSST string compression
 * cuts the commit's CPU per record: measured 0.5 µs of ~4 (FlowStore writes, 500k records,
 * 6 interleaved runs: 336k -> 361k records/s median; 104 -> 101 bytes/record). A file of an
 * older format keeps its format (DuckDB fixes it at creation) and opens as before.
 */
export const STORE_DUCKDB_DEFAULTS: Readonly<Record<string, string>> = { storage_compatibility_version: 'v1.3.0' };

async function openOnce(path: string, config: Record<string, string>, logger: Logger): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(path, { ...STORE_DUCKDB_DEFAULTS, ...config });
  try {
    const connection = await instance.connect();
    try {
      for (const step of await createSchema(connection)) {
        logger.info({ path, schemaVersion: step.version, migration: step.description }, 'database migrated');
      }
      // Touch the data so a database whose catalog loads but whose tables do not read fails here, not later.
      await connection.run('SELECT count(*) FROM flows');
    } finally {
      connection.closeSync();
    }
  } catch (error) {
    instance.closeSync();
    throw error;
  }
  return instance;
}

export interface OpenedDatabase {
  instance: DuckDBInstance;
  /** Where an unreadable file was moved, when that happened. */
  movedAside: string | null;
}

export async function openDatabase(path: string, config: Record<string, string>, logger: Logger): Promise<OpenedDatabase> {
  try {
    return { instance: await openOnce(path, config, logger), movedAside: null };
  } catch (error) {
    // a failed migration left a readable file behind: never move that aside
    if (error instanceof MigrationError || !isCorruptionError(error)) throw error;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const aside = `${path}.corrupt-${stamp}`;
    if (fs.existsSync(path)) fs.renameSync(path, aside);
    if (fs.existsSync(`${path}.wal`)) fs.renameSync(`${path}.wal`, `${aside}.wal`);
    logger.error(
      { err: error, path, movedTo: aside },
      'STORE DATABASE UNREADABLE: moved it aside and started a fresh database; the old file is kept for inspection',
    );
    return { instance: await openOnce(path, config, logger), movedAside: aside };
  }
}
