/**
 * include_open: the open and pending records of a live snapshot, loaded into a temporary
 * table of the query's own connection so the query reads them with the same SQL (filters,
 * dimensions, aggregates) as stored records. The table mirrors `flows`, except that the
 * record kind and end reason are text (`open` is not in the stored vocabularies).
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { FlowRecord } from '../model/flow';
import { FlowChunkWriter } from '../store/append';

export const LIVE_TABLE = 'fm_live';

/** Chunk writers by connection (the writer's buffers are reused across queries). */
const writers = new WeakMap<DuckDBConnection, FlowChunkWriter>();

/**
 * Fills the connection's live table with `records` (rids from `firstRid` on: paging keys,
 * never compared with stored rids of the same record) and runs `work`; empties it after.
 */
export async function withLiveTable<T>(
  connection: DuckDBConnection, records: readonly FlowRecord[], firstRid: number, work: () => Promise<T>,
): Promise<T> {
  await connection.run(
    `CREATE TEMP TABLE IF NOT EXISTS ${LIVE_TABLE} AS SELECT * REPLACE (CAST(record_kind AS VARCHAR) AS record_kind,` +
      ` CAST(end_reason AS VARCHAR) AS end_reason) FROM flows LIMIT 0`,
  );
  await connection.run(`DELETE FROM ${LIVE_TABLE}`);
  if (records.length > 0) {
    const appender = await connection.createAppender(LIVE_TABLE, 'main', 'temp');
    try {
      let writer = writers.get(connection);
      if (!writer) {
        writer = await FlowChunkWriter.forAppender(appender);
        writers.set(connection, writer);
      }
      writer.append(appender, records, firstRid);
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }
  try {
    return await work();
  } finally {
    await connection.run(`DELETE FROM ${LIVE_TABLE}`).catch(() => undefined);
  }
}
