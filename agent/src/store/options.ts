/** Store configuration (H2's config maps `store.*` onto this) and its defaults. */
import type { Logger } from 'pino';

export interface StoreOptions {
  /** DuckDB database file; the directory must exist. */
  path: string;
  /** A flush starts as soon as this many records wait. */
  batchSize: number;
  /**
   * Waiting records are flushed at least this often: the most a kill -9 (or power loss) can
   * lose is the records of the last interval (plus whatever the flow table still held).
   */
  flushIntervalMs: number;
  /** Largest number of records written in one transaction (best a multiple of DuckDB's row group, 122,880). */
  maxTransactionRecords: number;
  /**
   * When this many records wait (a producer that does not yield, e.g. a capture file read
   * in one native call), they are written synchronously inside write() rather than dropped.
   */
  syncDrainRecords: number;
  /**
   * Records held in memory while the database cannot be written; beyond it the newest go to
   * the disk spill (when `spillDir` is set and has room), else new records are dropped and counted.
   */
  maxBacklog: number;
  /** Directory for the disk spill; '' = memory only. Best on another filesystem than the database. */
  spillDir: string;
  /** Most bytes the spill files may take. */
  spillMaxBytes: number;
  /** Records (and rollups) whose start is older than this are deleted. 0 keeps everything. */
  retentionDays: number;
  /** How often new raw rows are aggregated into the per-minute rollup (queries are exact regardless). */
  rollupIntervalMs: number;
  /** Largest number of raw rows aggregated in one roll-up transaction. */
  rollupSliceRecords: number;
  /** How often retention and rollup compaction run. */
  maintenanceIntervalMs: number;
  /** Retention deletes at most this many minutes of data per statement, so queries are never blocked long. */
  retentionChunkMinutes: number;
  /** Backoff between flush retries after a storage error: doubles from the first to the max. */
  retryInitialMs: number;
  retryMaxMs: number;
  /** Extra DuckDB settings (e.g. { memory_limit: '512MB', threads: '2' }). */
  duckdb: Record<string, string>;
  logger?: Logger;
  /** Clock for retention (epoch ms); tests pin it. */
  now: () => number;
}

export const STORE_DEFAULTS: Omit<StoreOptions, 'path'> = {
  batchSize: 10_000,
  flushIntervalMs: 1000,
  maxTransactionRecords: 245_760,
  syncDrainRecords: 245_760,
  maxBacklog: 500_000,
  spillDir: '',
  spillMaxBytes: 1024 ** 3,
  retentionDays: 7,
  rollupIntervalMs: 5000,
  rollupSliceRecords: 1_000_000,
  maintenanceIntervalMs: 60_000,
  retentionChunkMinutes: 60,
  retryInitialMs: 500,
  retryMaxMs: 30_000,
  duckdb: {},
  now: () => Date.now(),
};

export type StoreOptionsInput = Partial<StoreOptions> & Pick<StoreOptions, 'path'>;
