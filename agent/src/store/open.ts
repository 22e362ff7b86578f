/**
 * Opening the database file: schema (created, or migrated from an older version: see
 * migrations.ts), an integrity check, and the one policy for damaged files.
 *
 * Damaged (DuckDB reports the file or its WAL corrupt, truncated or not a database; or the
 * checks below find blocks in use past the end of the file): the damaged file is QUARANTINED,
 * i.e. renamed `<name>.corrupt-<timestamp>` (its WAL, when the WAL is intact, travels with
 * it as `<name>.corrupt-<timestamp>.wal`), and a fresh database is started so capture goes
 * on. When only the WAL is damaged, only the WAL is moved aside (`...corrupt-<ts>.wal`) and
 * the database opens without the transactions in it. Nothing is deleted. The store reports
 * every quarantined file next to the database until an operator removes it (see quarantine.ts).
 *
 * Refused (thrown as StoreOpenError, the file untouched): everything that is not damage —
 * the file is locked by another process, permissions, a read-only or full filesystem, an I/O
 * error of the device, a file of a newer DuckDB, of a newer schema version or whose tables are
 * not its version's, a migration step that failed (rolled back). Moving a healthy file aside
 * would hide data.
 */
import fs from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Logger } from 'pino';
import { ENUM_TYPES, FLOW_COLUMNS, tableDdl, typeDdl } from './schema';
import { checkLayout, FIRST_SCHEMA_VERSION, migrate, MigrationError, SCHEMA_VERSION, type Migration } from './migrations';
import { quarantine } from './quarantine';

/** Conditions that are never damage of the file itself (checked first). */
const NOT_DAMAGE =
  /Could not set lock|Conflicting lock|Permission denied|Read-only file system|No such file or directory|No space left on device|Input\/output error|version number|newer version|schema version/i;
/** What DuckDB says about a file that is not (or no longer) a readable database. */
const DAMAGE =
  /not a valid DuckDB database|Corrupt database file|Corrupt WAL|checksum|Could not read enough bytes|Failure while replaying WAL|Serialization Error|damaged/i;

/** True when the error means the database file (or its WAL) is damaged, never for locks, permissions or full disks. */
export function isDamageError(error: unknown): boolean {
  const message = errorText(error);
  return !NOT_DAMAGE.test(message) && DAMAGE.test(message);
}

const isWalDamage = (error: unknown) => /WAL/.test(errorText(error));

function errorText(error: unknown): string {
  return String((error as Error)?.message ?? error);
}

/** The store cannot open its database and will not move it aside (not damage): the agent stops with this. */
export class StoreOpenError extends Error {
  constructor(path: string, cause: unknown) {
    super(`cannot open the flow store ${path}: ${errorText(cause)}`, { cause });
    this.name = 'StoreOpenError';
  }
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
  const applied = await createOrMigrate(connection);
  // An id of this database (flows cursors are bound to it); older files get theirs at their next open.
  await connection.run(
    "INSERT INTO flowmesh_meta SELECT 'database_id', CAST(uuid() AS VARCHAR) WHERE NOT EXISTS (SELECT 1 FROM flowmesh_meta WHERE key = 'database_id')",
  );
  return applied;
}

async function createOrMigrate(connection: DuckDBConnection): Promise<Migration[]> {
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
 *
 * checkpoint_threshold: DuckDB checkpoints by itself when the WAL reaches this size, and
 * each checkpoint compresses again the row group it left partly filled the time before. At
 * DuckDB's default (16 MB, about 60 k records) a busy agent's commits of 10 k records paid
 * that again and again: 128 MB cuts the CPU per record written by about 30 %
 * (measured by the store bench's live-sized transactions) for up to about 100 MB more memory
 * while the WAL is that large. Only busy nodes get there: a maintenance pass checkpoints any
 * WAL over 16 MB (FlowStore.checkpointLargeWal), so a quiet node's WAL stays as small as before.
 */
export const STORE_DUCKDB_DEFAULTS: Readonly<Record<string, string>> = {
  storage_compatibility_version: 'v1.3.0',
  checkpoint_threshold: '128MB',
};
/** WAL size from which a maintenance pass checkpoints (DuckDB's own default threshold). */
export const MAINTENANCE_CHECKPOINT_WAL_BYTES = 16 * 1024 ** 2;

/** Size of DuckDB's file header (main header + two database headers) before block 0. */
const FILE_HEADER_BYTES = 12_288;

/**
 * A file cut short (a failed copy, a full disk) is found at open from the header alone: the
 * blocks it counts that are past the end of the file must all be free (DuckDB itself trims
 * trailing free blocks). Cheap; a cut that only an exact block list could show is found by
 * verifyAllBlocks, run after the start.
 */
async function checkFileLength(connection: DuckDBConnection, path: string): Promise<void> {
  const reader = await connection.runAndReadAll('SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()');
  const [blockSize, totalBlocks, freeBlocks] = reader.getRows()[0].map(Number);
  const size = fs.statSync(path).size;
  const present = Math.max(0, Math.floor((size - FILE_HEADER_BYTES) / blockSize));
  if (present < totalBlocks && totalBlocks - present > freeBlocks) {
    throw new Error(`database file damaged: truncated to ${size} bytes, but ${totalBlocks - present} of its ${totalBlocks} blocks are missing and only ${freeBlocks} are free`);
  }
}

/**
 * Reads the storage information of every table, which makes DuckDB read (and check the
 * checksum of) every block in use, and checks that none lies past the end of the file.
 * Costs about 2 s per GB of database (DuckDB's threads, not the event loop): the store runs
 * it once after start, in the background. @throws DuckDB's corruption error or a "damaged" one.
 */
export async function verifyAllBlocks(connection: DuckDBConnection, path: string): Promise<void> {
  const tables = await connection.runAndReadAll(
    'SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary',
  );
  const perTable = tables.getRows().map((row) => `SELECT max(block_id) AS b FROM pragma_storage_info('${String(row[0]).replace(/'/g, "''")}')`);
  const reader = await connection.runAndReadAll(
    `SELECT (SELECT block_size FROM pragma_database_size()), (SELECT max(b) FROM (${[...perTable, 'SELECT max(block_id) FROM pragma_metadata_info()'].join(' UNION ALL ')}))`,
  );
  const [blockSize, maxBlock] = reader.getRows()[0];
  if (maxBlock === null || blockSize === null) return;
  const needed = FILE_HEADER_BYTES + (Number(maxBlock) + 1) * Number(blockSize);
  const size = fs.statSync(path).size;
  if (size < needed) {
    throw new Error(`database file damaged: truncated to ${size} bytes, but block ${String(maxBlock)} in use ends at byte ${needed}`);
  }
}

async function openOnce(path: string, config: Record<string, string>, logger: Logger): Promise<DuckDBInstance> {
  const instance = await DuckDBInstance.create(path, { ...STORE_DUCKDB_DEFAULTS, ...config });
  try {
    const connection = await instance.connect();
    try {
      await checkFileLength(connection, path); // before the schema step, which may migrate (write)
      for (const step of await createSchema(connection)) {
        logger.info({ path, schemaVersion: step.version, migration: step.description }, 'database migrated');
      }
      // The rid column is read whole when the store starts (max(rid)); read it here so damage there counts as damage.
      await connection.run('SELECT count(*), max(rid) FROM flows');
    } finally {
      connection.closeSync();
    }
  } catch (error) {
    instance.closeSync();
    throw error;
  }
  return instance;
}

/**
 * Opens (or creates) the database at `path`, quarantining a damaged file or WAL as described
 * above. Returns the instance and the paths moved aside by this call.
 * @throws StoreOpenError when the file cannot be opened for another reason.
 */
export async function openDatabase(
  path: string,
  config: Record<string, string>,
  logger: Logger,
): Promise<{ instance: DuckDBInstance; movedAside: string[] }> {
  const movedAside: string[] = [];
  // At most: the WAL alone, then the database (with whatever WAL is left), then a fresh file.
  for (let attempt = 0; ; attempt++) {
    try {
      return { instance: await openOnce(path, config, logger), movedAside };
    } catch (error) {
      // a failed migration left a readable file behind (rolled back): never move that aside
      if (error instanceof MigrationError || !isDamageError(error) || attempt >= 2) throw new StoreOpenError(path, error);
      const walOnly = isWalDamage(error) && fs.existsSync(`${path}.wal`) && attempt === 0;
      const moved = quarantine(path, walOnly ? 'wal' : 'database');
      movedAside.push(...moved);
      logger.error(
        { err: error, path, movedTo: moved },
        walOnly
          ? 'STORE WAL DAMAGED: moved the WAL aside and opened the database without it; the file is kept for inspection'
          : 'STORE DATABASE DAMAGED: moved it aside and started a fresh database; the old file is kept for inspection',
      );
    }
  }
}
