/**
 * FlowStore: the FlowSink that keeps flow records in a local DuckDB file.
 *
 * write() only queues (never blocks, never throws). A flush appends the queued records in
 * one transaction on the store's own writer connection (data chunks through the appender).
 * Flushes start when `batchSize` records wait and at least every `flushIntervalMs`.
 *
 * Rollups are built from raw rows in the background (every `rollupIntervalMs`), off the
 * write path: each pass aggregates the rows with rid in [watermark, newest) into flows_1m
 * and advances `rollup_state.rid` in the same transaction. The query engine reads rollup
 * rows for rid < watermark and raw rows for the rest, so answers are exact at any moment.
 *
 * When the disk refuses a flush (full, read-only, I/O error) the error is logged and counted
 * by kind, the records stay queued (up to `maxBacklog`; beyond, new records are dropped and
 * counted) and the flush is retried with exponential backoff. Capture never stops for it.
 *
 * Background maintenance (every `maintenanceIntervalMs`): retention deletes records and
 * rollups older than `retentionDays` in bounded chunks, and rollup rows of the minutes
 * rolled up since the last pass are compacted to one row per key. Roll-up, retention and
 * compaction run one at a time on their own connection; writes and queries continue.
 */
import fs from 'node:fs';
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pino, { type Logger } from 'pino';
import type { FlowRecord, FlowSink } from '../model/flow';
import { FlowChunkWriter } from './append';
import { openDatabase } from './open';
import { STORE_DEFAULTS, type StoreOptions, type StoreOptionsInput } from './options';
import { ROLLUP_COMPACT_SQL, ROLLUP_INSERT_SQL } from './schema';
import { invalidReason } from './validate';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** Kinds of storage errors, the `kind` label of flowmesh_store_errors_total. */
export type StoreErrorKind = 'disk_full' | 'read_only' | 'io' | 'invalid_record' | 'maintenance' | 'other';

export function classifyStorageError(error: unknown): StoreErrorKind {
  const message = String((error as Error)?.message ?? error);
  if (/no space left|disk is full|disk full|ENOSPC|quota/i.test(message)) return 'disk_full';
  if (/read-only|read only|EROFS|permission denied|EACCES/i.test(message)) return 'read_only';
  if (/IO Error|I\/O|EIO|could not write|could not (?:fsync|sync)|invalidated/i.test(message)) return 'io';
  return 'other';
}

/** DuckDB's row group size: a transaction appending whole row groups writes them straight to the file. */
const ROW_GROUP_ROWS = 122_880;

/**
 * How many queued records the next transaction takes. When a backlog has built up, whole
 * row groups: DuckDB then writes them compressed directly into the database file instead
 * of through the WAL and again at the next checkpoint (measured: ~5 instead of ~8 µs of
 * CPU per record); the remainder follows in a smaller transaction.
 */
export function transactionSize(queued: number, max: number): number {
  const limit = Math.min(queued, max);
  return limit >= ROW_GROUP_ROWS ? limit - (limit % ROW_GROUP_ROWS) : limit;
}

export interface StoreCounters {
  rowsWritten: number;
  batchesWritten: number;
  backlog: number;
  backlogDropped: number;
  invalidDropped: number;
  errors: Record<StoreErrorKind, number>;
  lastError: string | null;
}

export interface StoreStats extends StoreCounters {
  path: string;
  dbBytes: number;
  walBytes: number;
  retentionDays: number;
  storedRecords: number;
  rollupRows: number;
  /** Oldest record start and newest record end, epoch µs (null when empty). */
  oldestUs: number | null;
  newestUs: number | null;
  movedAside: string | null;
}

export interface RetentionResult {
  cutoffUs: number;
  deletedRecords: number;
  deletedRollupRows: number;
}

/** FlowStore.pendingView(): records not yet visible in the database and which rows are. */
export interface PendingView {
  records: readonly FlowRecord[];
  ridLimit: number;
  /** [from, to) rid ranges of transactions in flight. */
  hiddenRids: [number, number][];
}

export type BatchListener = (durationSeconds: number, rows: number) => void;
export type ErrorListener = (kind: StoreErrorKind, error: unknown) => void;

export class FlowStore implements FlowSink {
  readonly options: StoreOptions;
  private readonly logger: Logger;
  private readonly queue: FlowRecord[] = [];
  private nextRid = 0;
  /** Rid ranges (first -> count) of transactions not yet committed (or failed): the roll-up must not pass them. */
  private readonly uncommittedRids = new Map<number, number>();
  /** Records at the head of the queue that the async flush is writing right now. */
  private inFlight = 0;
  private chunkWriter: FlowChunkWriter | null = null;
  /** Synchronous path for producers that never yield (see drainSynchronously); null while unusable. */
  private syncAppender: DuckDBAppender | null = null;
  private syncChunkWriter: FlowChunkWriter | null = null;
  private flushChain: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private retryDelayMs = 0;
  private retryAt = 0;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private maintenanceChain: Promise<void> = Promise.resolve();
  private readonly batchListeners: BatchListener[] = [];
  private readonly errorListeners: ErrorListener[] = [];
  /** Earliest rollup minute written since the last compaction (Infinity: none). */
  private dirtyFromMinuteUs = Infinity;
  private readonly counters_: StoreCounters = {
    rowsWritten: 0, batchesWritten: 0, backlog: 0, backlogDropped: 0, invalidDropped: 0,
    errors: { disk_full: 0, read_only: 0, io: 0, invalid_record: 0, maintenance: 0, other: 0 },
    lastError: null,
  };

  private constructor(
    private readonly db: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly maintainer: DuckDBConnection,
    private readonly syncWriter: DuckDBConnection,
    options: StoreOptions,
    readonly movedAside: string | null,
  ) {
    this.options = options;
    this.logger = options.logger ?? pino({ name: 'store' });
  }

  static async open(input: StoreOptionsInput): Promise<FlowStore> {
    const options: StoreOptions = { ...STORE_DEFAULTS, ...input };
    const logger = options.logger ?? pino({ name: 'store' });
    const { instance, movedAside } = await openDatabase(options.path, options.duckdb, logger);
    const writer = await instance.connect();
    const maintainer = await instance.connect();
    const syncWriter = await instance.connect();
    const store = new FlowStore(instance, writer, maintainer, syncWriter, { ...options, logger }, movedAside);
    await store.prepareSyncAppender();
    // After retention emptied the table, rids must still continue above the rollup watermark.
    const maxRid = await writer.runAndReadAll('SELECT greatest(coalesce(max(rid) + 1, 0), (SELECT max(rid) FROM rollup_state)) FROM flows');
    store.nextRid = Number(maxRid.getRows()[0][0]);
    store.startTimers();
    logger.info({ path: options.path, retentionDays: options.retentionDays, flushIntervalMs: options.flushIntervalMs }, 'flow store open');
    return store;
  }

  /** The DuckDB instance, for the query engine's own connections. */
  get instance(): DuckDBInstance {
    return this.db;
  }

  onBatch(listener: BatchListener): void {
    this.batchListeners.push(listener);
  }

  onError(listener: ErrorListener): void {
    this.errorListeners.push(listener);
  }

  write(record: FlowRecord): void {
    if (this.closed) {
      this.counters_.backlogDropped++;
      return;
    }
    const invalid = invalidReason(record);
    if (invalid !== null) {
      this.counters_.invalidDropped++;
      this.countError('invalid_record', new Error(`invalid flow record (${invalid}): dropped`));
      return;
    }
    if (this.queue.length >= this.options.maxBacklog) {
      if (Date.now() >= this.retryAt) this.drainSynchronously(); // full because the producer never yields?
      if (this.queue.length >= this.options.maxBacklog) {
        this.counters_.backlogDropped++;
        return;
      }
    }
    this.queue.push(record);
    if (this.queue.length - this.inFlight >= this.options.syncDrainRecords && Date.now() >= this.retryAt) this.drainSynchronously();
    if (this.queue.length >= this.options.batchSize && !this.flushQueued && Date.now() >= this.retryAt) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flush().catch(() => undefined); // counted and logged in drain()
      });
    }
  }

  /** Writes everything queued so far; rejects with the storage error when the disk refuses (records stay queued). */
  flush(): Promise<void> {
    const run = this.flushChain.then(() => this.drain());
    this.flushChain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const timer of this.timers) clearInterval(timer);
    try {
      await this.flush();
    } catch (error) {
      this.logger.error({ err: error, lost: this.queue.length }, 'store closed with records that could not be written');
    }
    this.closed = true;
    try {
      await this.rollUp();
    } catch (error) {
      this.logger.warn({ err: error }, 'roll-up at close failed (the next start catches up)');
    }
    await this.maintenanceChain;
    try {
      await this.writer.run('CHECKPOINT');
    } catch (error) {
      this.logger.warn({ err: error }, 'checkpoint at close failed (the WAL is replayed at next open)');
    }
    this.syncAppender?.closeSync();
    this.syncAppender = null;
    this.writer.closeSync();
    this.syncWriter.closeSync();
    this.maintainer.closeSync();
    this.db.closeSync();
  }

  /**
   * What the store holds that a query of the database cannot see yet, at this instant: the
   * records accepted but not known to be committed (oldest first), and which rows of the
   * database a query consistent with this instant may read (rid below `ridLimit` and outside
   * `hiddenRids`, whose rows are among `records`). Invariant this relies on: a record leaves
   * the queue in the same synchronous step in which its rid range stops being uncommitted.
   */
  pendingView(): PendingView {
    return {
      records: this.queue.slice(),
      ridLimit: this.nextRid,
      hiddenRids: [...this.uncommittedRids].map(([first, count]) => [first, first + count] as [number, number]),
    };
  }

  counters(): StoreCounters {
    return { ...this.counters_, backlog: this.queue.length, errors: { ...this.counters_.errors } };
  }

  async stats(): Promise<StoreStats> {
    const sizes = this.fileSizes();
    const connection = await this.db.connect();
    let reader;
    try {
      reader = await connection.runAndReadAll(
        'SELECT (SELECT count(*) FROM flows), (SELECT count(*) FROM flows_1m), (SELECT min(start_us) FROM flows), (SELECT max(end_us) FROM flows)',
      );
    } finally {
      connection.closeSync();
    }
    const [records, rollupRows, oldest, newest] = reader.getRows()[0];
    return {
      ...this.counters(),
      path: this.options.path,
      ...sizes,
      retentionDays: this.options.retentionDays,
      storedRecords: Number(records),
      rollupRows: Number(rollupRows),
      oldestUs: oldest === null ? null : Number(oldest),
      newestUs: newest === null ? null : Number(newest),
      movedAside: this.movedAside,
    };
  }

  fileSizes(): { dbBytes: number; walBytes: number } {
    const size = (file: string) => {
      try {
        return fs.statSync(file).size;
      } catch {
        return 0;
      }
    };
    return { dbBytes: size(this.options.path), walBytes: size(`${this.options.path}.wal`) };
  }

  /**
   * Deletes records and rollup rows that started before the cutoff (min(now, newest record
   * start) - retentionDays, minute aligned), oldest first, in chunks.
   */
  runRetention(): Promise<RetentionResult> {
    return this.serialised(() => this.retentionPass());
  }

  /** Merges rollup rows of recently rolled-up minutes into one row per key and minute. */
  compactRollups(): Promise<void> {
    return this.serialised(() => this.compactionPass());
  }

  private async retentionPass(): Promise<RetentionResult> {
    // Counted back from now, or from the newest record when that is older: a database of an
    // imported old capture (or of an agent that was down) is not emptied by the wall clock.
    const newest = await this.maintainer.runAndReadAll('SELECT max(start_us) FROM flows');
    const newestUs = newest.getRows()[0][0];
    const referenceMs = newestUs === null ? this.options.now() : Math.min(this.options.now(), Math.floor(Number(newestUs) / 1000));
    const cutoffMs = Math.floor((referenceMs - this.options.retentionDays * DAY_MS) / MINUTE_MS) * MINUTE_MS;
    const cutoffUs = cutoffMs * 1000;
    const result: RetentionResult = { cutoffUs, deletedRecords: 0, deletedRollupRows: 0 };
    if (this.options.retentionDays <= 0) return result;
    const chunkUs = this.options.retentionChunkMinutes * MINUTE_MS * 1000;
    // Oldest first, one bounded range per statement, so each DELETE is short and queries interleave.
    while (true) {
      const oldest = await this.maintainer.runAndReadAll('SELECT min(start_us) FROM flows WHERE start_us < $1::BIGINT', [cutoffUs]);
      const oldestUs = oldest.getRows()[0][0] as bigint | null;
      if (oldestUs === null) break;
      const upTo = Math.min(cutoffUs, Number(oldestUs) + chunkUs);
      const deleted = await this.maintainer.run('DELETE FROM flows WHERE start_us < $1::BIGINT', [upTo]);
      result.deletedRecords += Number(deleted.rowsChanged);
    }
    const rollup = await this.maintainer.run('DELETE FROM flows_1m WHERE minute_us < $1::BIGINT', [cutoffUs]);
    result.deletedRollupRows = Number(rollup.rowsChanged);
    if (result.deletedRecords > 0) {
      this.logger.info({ ...result, retentionDays: this.options.retentionDays }, 'retention deleted old records');
      // Freed blocks are reused only after a checkpoint; if a write is in flight DuckDB
      // refuses, and the next automatic checkpoint (WAL over 16 MB) does it instead.
      await this.maintainer.run('CHECKPOINT').catch((error: unknown) => this.logger.debug({ err: error }, 'checkpoint after retention deferred'));
    }
    return result;
  }

  /**
   * Merges the rollup rows (one per key, minute and roll-up pass) of the minutes rolled up
   * since the last compaction. The newest minute is left alone (more passes will add to it).
   * Roll-up passes run on the same serial queue, so no rollup row changes underneath.
   */
  private async compactionPass(): Promise<void> {
    if (this.dirtyFromMinuteUs === Infinity) return;
    const newest = await this.maintainer.runAndReadAll('SELECT max(minute_us) FROM flows_1m');
    const newestMinute = newest.getRows()[0][0] as bigint | null;
    if (newestMinute === null) return;
    const from = this.dirtyFromMinuteUs;
    const upTo = Number(newestMinute);
    if (upTo <= from) return;
    await this.maintainer.run('BEGIN TRANSACTION');
    try {
      for (const sql of ROLLUP_COMPACT_SQL) await this.maintainer.run(sql, sql.includes('$1') ? [from, upTo] : []);
      await this.maintainer.run('COMMIT');
    } catch (error) {
      await this.maintainer.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
    if (this.dirtyFromMinuteUs === from) this.dirtyFromMinuteUs = upTo;
  }

  /** Aggregates every committed raw row not yet in the rollup (in bounded slices). Returns rows rolled up. */
  rollUp(): Promise<number> {
    return this.serialised(async () => {
      const state = await this.maintainer.runAndReadAll('SELECT rid FROM rollup_state');
      let from = Number(state.getRows()[0][0]);
      const end = this.committedRidFrontier();
      let rolled = 0;
      while (from < end) {
        const to = Math.min(end, from + this.options.rollupSliceRecords);
        await this.maintainer.run('BEGIN TRANSACTION');
        try {
          const earliest = await this.maintainer.runAndReadAll(
            'SELECT min(minute_us) FROM flows WHERE rid >= $1::UBIGINT AND rid < $2::UBIGINT', [from, to],
          );
          await this.maintainer.run(ROLLUP_INSERT_SQL, [from, to]);
          await this.maintainer.run('UPDATE rollup_state SET rid = $1::UBIGINT', [to]);
          await this.maintainer.run('COMMIT');
          const earliestMinute = earliest.getRows()[0][0];
          if (earliestMinute !== null) this.dirtyFromMinuteUs = Math.min(this.dirtyFromMinuteUs, Number(earliestMinute));
        } catch (error) {
          await this.maintainer.run('ROLLBACK').catch(() => undefined);
          throw error;
        }
        rolled += to - from;
        from = to;
      }
      return rolled;
    });
  }

  /** One maintenance pass: roll up, retention, compaction. Errors are counted and logged, never thrown. */
  async runMaintenance(): Promise<void> {
    try {
      await this.rollUp();
      await this.runRetention();
      await this.compactRollups();
    } catch (error) {
      this.countError('maintenance', error);
    }
  }

  /** Runs maintenance work one task at a time on the maintenance connection. */
  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.maintenanceChain.then(task);
    this.maintenanceChain = run.then(() => undefined, () => undefined);
    return run;
  }

  private startTimers(): void {
    const flushTimer = setInterval(() => {
      if (this.queue.length > 0 && Date.now() >= this.retryAt) this.flush().catch(() => undefined);
    }, this.options.flushIntervalMs);
    const rollupTimer = setInterval(() => {
      this.rollUp().catch((error: unknown) => this.countError('maintenance', error));
    }, this.options.rollupIntervalMs);
    const maintenanceTimer = setInterval(() => void this.runMaintenance(), this.options.maintenanceIntervalMs);
    for (const timer of [flushTimer, rollupTimer, maintenanceTimer]) {
      timer.unref();
      this.timers.push(timer);
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const count = transactionSize(this.queue.length, this.options.maxTransactionRecords);
      const started = process.hrtime.bigint();
      this.inFlight = count;
      const firstRid = this.reserveRids(count);
      try {
        await this.transaction(this.queue.slice(0, count), firstRid);
      } catch (error) {
        this.uncommittedRids.delete(firstRid);
        this.inFlight = 0;
        this.failed(error);
        throw error;
      }
      // one synchronous step (see pendingView): committed rows become visible as they leave the queue
      this.uncommittedRids.delete(firstRid);
      this.inFlight = 0;
      this.queue.splice(0, count);
      this.written(count, started);
    }
  }

  /**
   * A producer that never yields to the event loop (a capture file read in one native
   * call) would fill the backlog before any async flush could run. Once that many records
   * wait, they are written right here, synchronously: a long-lived appender in auto-commit
   * mode commits on flushSync(). Records the async flush is writing are left to it.
   */
  private drainSynchronously(): void {
    const appender = this.syncAppender;
    if (!appender || !this.syncChunkWriter) return;
    const count = transactionSize(this.queue.length - this.inFlight, this.options.maxTransactionRecords);
    if (count === 0) return;
    const records = this.queue.slice(this.inFlight, this.inFlight + count);
    const started = process.hrtime.bigint();
    const firstRid = this.reserveRids(count);
    try {
      this.syncChunkWriter.append(appender, records, firstRid);
      appender.flushSync();
    } catch (error) {
      this.syncAppender = null; // its buffered rows are unknown now: start over with a fresh one
      try {
        appender.closeSync();
      } catch {
        // the failed flush already invalidated it
      }
      void this.prepareSyncAppender().catch(() => undefined);
      this.failed(error);
      return;
    } finally {
      this.uncommittedRids.delete(firstRid);
    }
    this.queue.splice(this.inFlight, count);
    this.written(count, started);
  }

  private async prepareSyncAppender(): Promise<void> {
    const appender = await this.syncWriter.createAppender('flows');
    this.syncChunkWriter ??= await FlowChunkWriter.forAppender(appender);
    if (this.closed) appender.closeSync();
    else this.syncAppender = appender;
  }

  /** Reserves rids for a transaction; the caller removes the mark once it committed or failed. */
  private reserveRids(count: number): number {
    const first = this.nextRid;
    this.nextRid += count;
    this.uncommittedRids.set(first, count);
    return first;
  }

  /** Rids below this belong to committed (or abandoned) transactions. */
  private committedRidFrontier(): number {
    let frontier = this.nextRid;
    for (const first of this.uncommittedRids.keys()) frontier = Math.min(frontier, first);
    return frontier;
  }

  private failed(error: unknown): void {
    const kind = classifyStorageError(error);
    this.countError(kind, error);
    this.retryDelayMs = Math.min(this.options.retryMaxMs, this.retryDelayMs === 0 ? this.options.retryInitialMs : this.retryDelayMs * 2);
    this.retryAt = Date.now() + this.retryDelayMs;
    this.logger.error(
      { err: error, kind, backlog: this.queue.length, retryInMs: this.retryDelayMs },
      `store flush failed (${kind}); records kept in memory and retried`,
    );
  }

  private written(count: number, started: bigint): void {
    if (this.retryDelayMs !== 0) this.logger.info({ backlog: this.queue.length }, 'store writes recovered');
    this.retryDelayMs = 0;
    this.retryAt = 0;
    this.counters_.rowsWritten += count;
    this.counters_.batchesWritten++;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const listener of this.batchListeners) listener(seconds, count);
  }

  private async transaction(records: FlowRecord[], firstRid: number): Promise<void> {
    await this.writer.run('BEGIN TRANSACTION');
    try {
      const appender = await this.writer.createAppender('flows');
      try {
        this.chunkWriter ??= await FlowChunkWriter.forAppender(appender);
        this.chunkWriter.append(appender, records, firstRid);
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      await this.writer.run('COMMIT');
    } catch (error) {
      await this.writer.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  private countError(kind: StoreErrorKind, error: unknown): void {
    this.counters_.errors[kind]++;
    this.counters_.lastError = String((error as Error)?.message ?? error);
    if (kind === 'invalid_record') {
      if (this.counters_.errors.invalid_record === 1) this.logger.warn({ err: error }, 'invalid flow record dropped (logged once; counted)');
    } else if (kind === 'maintenance') {
      this.logger.error({ err: error }, 'store maintenance failed');
    }
    for (const listener of this.errorListeners) listener(kind, error);
  }
}
