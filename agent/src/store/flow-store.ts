/**
 * FlowStore: the FlowSink that keeps flow records in a local DuckDB file.
 *
 * write() only queues (never blocks, never throws). A flush appends the queued records in
 * one transaction on the store's own writer connection (data chunks through the appender).
 * Flushes start when `batchSize` records wait and at least every `flushIntervalMs`.
 *
 * Durability rule: every record handed to write() is stored, held, or counted as dropped —
 * received = written + held + dropped (by reason), exactly, at every moment (counters()).
 *
 * When the database cannot be written (disk full, read-only, I/O error) the store is
 * DEGRADED: the error is logged and counted by kind, and records are HELD — in memory up to
 * `maxBacklog`, then the newest in spill files on disk (spill.ts), then new records are
 * dropped and counted — while the flush is retried with exponential backoff. Capture never
 * stops for it. Each retry first repairs what the failure left behind:
 * - DuckDB invalidates the whole database after a failed checkpoint (the instance cannot be
 *   used again): the store closes it, after every query connection to it is released, and
 *   opens the file again. What was committed before survives (the WAL is replayed); a
 *   transaction whose commit failed is not in the file.
 * - A read-only filesystem or an I/O error likewise closes the database: its files stay open
 *   on the failed filesystem, so each retry opens it again from the path (a repaired mount).
 *   An existing database the device refuses at open starts the store degraded, not refused.
 * - A commit that failed is "in doubt": before its records are written again, the store
 *   checks whether its rid range is in the table (rids are reserved per transaction), so a
 *   record is never stored twice, whatever DuckDB did.
 * - A database file found damaged while running (a query, write or maintenance task hit a
 *   checksum failure or a truncated block) is quarantined like a damaged file at open
 *   (open.ts): moved aside, a fresh database opened, the held records written there.
 * Then what was held is written: memory first, then spill files, oldest first. health()
 * says what is wrong while it lasts.
 *
 * Rollups are built from raw rows in the background (every `rollupIntervalMs`), off the
 * write path: each pass aggregates the rows with rid in [watermark, newest) into flows_1m
 * and advances `rollup_state.rid` in the same transaction. The query engine reads rollup
 * rows for rid < watermark and raw rows for the rest, so answers are exact at any moment.
 *
 * Background maintenance (every `maintenanceIntervalMs`): retention deletes records and
 * rollups older than `retentionDays` in bounded chunks, and rollup rows of the minutes
 * rolled up since the last pass are compacted to one row per key. Roll-up, retention and
 * compaction run one at a time on their own connection; writes and queries continue. They
 * pause while the store is degraded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pino, { type Logger } from 'pino';
import type { FlowRecord, FlowSink, SinkStatus } from '../model/flow';
import { FlowChunkWriter } from './append';
import { isDamageError, MAINTENANCE_CHECKPOINT_WAL_BYTES, openDatabase, verifyAllBlocks } from './open';
import { STORE_DEFAULTS, type StoreOptions, type StoreOptionsInput } from './options';
import { findQuarantined, quarantine, type QuarantinedFile } from './quarantine';
import { ROLLUP_COMPACT_SQL, ROLLUP_INSERT_SQL } from './schema';
import { DiskSpill, type RidRange, type SpillFile } from './spill';
import { invalidReason } from './validate';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** How long a replaced database waits for the query connections to it to be released. */
const RELEASE_TIMEOUT_MS = 5000;
/** Dropping records is logged at most this often (with the count since the last line). */
const DROP_LOG_INTERVAL_MS = 10_000;

/** Kinds of storage errors, the `kind` label of flowmesh_store_errors_total. */
export type StoreErrorKind = 'disk_full' | 'read_only' | 'io' | 'damaged' | 'invalid_record' | 'maintenance' | 'other';

export function classifyStorageError(error: unknown): StoreErrorKind {
  const message = String((error as Error)?.message ?? error);
  if (/no space left|disk is full|disk full|ENOSPC|quota/i.test(message)) return 'disk_full';
  if (/read-only|read only|EROFS|permission denied|EACCES/i.test(message)) return 'read_only';
  if (isDamageError(error)) return 'damaged';
  if (/IO Error|I\/O|EIO|could not write|could not (?:fsync|sync)|invalidated/i.test(message)) return 'io';
  return 'other';
}

/**
 * The device under an existing database refuses it at open (read-only filesystem, I/O error,
 * no space to replay the WAL). Only for a file that exists: this path worked before, so it is
 * the device that failed; a new path that cannot be written is a configuration mistake and is
 * refused, as are permissions, a lock held by another process and everything else.
 */
function deviceFailedUnder(path: string, error: unknown): boolean {
  if (!fs.existsSync(path)) return false;
  const message = String((error as Error)?.message ?? error);
  if (/permission denied|EACCES|lock/i.test(message)) return false;
  const kind = classifyStorageError(error);
  return kind === 'read_only' || kind === 'io' || kind === 'disk_full';
}

/**
 * The filesystem turned read-only or the device failed under the open database: its files
 * stay open on that filesystem (after ext4's errors=remount-ro, until an operator unmounts,
 * repairs and mounts it again), so the database is closed and opened afresh, from the path,
 * once the device works again.
 */
const deviceRefuses = (error: unknown) => {
  const kind = classifyStorageError(error);
  return kind === 'read_only' || kind === 'io';
};

/** DuckDB refuses every further use of the database (after a failed checkpoint, say): it must be reopened. */
const isInvalidated = (error: unknown) => /database has been invalidated|FATAL Error/i.test(String((error as Error)?.message ?? error));

/** Why records were counted as dropped: the `reason` label of flowmesh_store_backlog_dropped_total. */
export type DropReason = 'full' | 'invalid' | 'shutdown';

/** Queries cannot run because the store has no usable database right now (the HTTP API answers 503). */
export class StoreUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
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
  /** Records handed to write(), plus those found in spill files at start. */
  received: number;
  /** Records committed to the database. */
  rowsWritten: number;
  batchesWritten: number;
  /** Records held (in memory and on disk), waiting to be written. */
  backlog: number;
  /** Of the held records, those in spill files. */
  spilledRecords: number;
  spillBytes: number;
  /** Records counted as dropped, all reasons. */
  backlogDropped: number;
  dropped: Record<DropReason, number>;
  errors: Record<StoreErrorKind, number>;
  lastError: string | null;
  /** Times the database was closed and opened again (after DuckDB invalidated it, or to quarantine it). */
  reopens: number;
}

export interface StoreHealth {
  state: 'ok' | 'degraded';
  /** What is wrong and what the store does about it, one sentence each (empty when ok). */
  problems: string[];
  /** When writes started failing (ISO-8601), null while they work. */
  writesFailingSince: string | null;
  quarantined: QuarantinedFile[];
}

export interface StoreStats extends StoreCounters, StoreHealth {
  path: string;
  dbBytes: number;
  walBytes: number;
  retentionDays: number;
  /** Figures read from the database; the last known ones while it cannot be read. */
  storedRecords: number;
  rollupRows: number;
  /** Oldest record start and newest record end, epoch µs (null when empty). */
  oldestUs: number | null;
  newestUs: number | null;
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

/** The open database: the instance and the store's own connections to it. */
interface Database {
  instance: DuckDBInstance;
  writer: DuckDBConnection;
  maintainer: DuckDBConnection;
  syncWriter: DuckDBConnection;
  /** Synchronous path for producers that never yield (see drainSynchronously); null while unusable. */
  syncAppender: DuckDBAppender | null;
}

/**
 * Records of a transaction whose commit failed: maybe stored, maybe not, until its rid range
 * is checked. Records moved to spill files while in doubt carry the same range there, so
 * `records` may be only part of the transaction.
 */
interface InDoubt extends RidRange {
  records: FlowRecord[];
}

interface WriteFailure {
  since: number;
  kind: StoreErrorKind;
  message: string;
}

const FAILURE_TEXT: Partial<Record<StoreErrorKind, string>> = {
  disk_full: 'the disk is full', read_only: 'the database is read-only', io: 'I/O error', damaged: 'the database file is damaged',
};

/** The operating system's words when the message has them (e.g. "No space left on device"), else its start. */
function shortCause(message: string): string {
  const os = /No space left on device|Read-only file system|Input\/output error|Permission denied|database has been invalidated/i.exec(message);
  return os ? os[0] : message.slice(0, 80);
}

const firstLine = (error: unknown) => String((error as Error)?.message ?? error).split('\n')[0].slice(0, 200);
const count = (n: number) => n.toLocaleString('en');

export class FlowStore implements FlowSink {
  readonly options: StoreOptions;
  private readonly logger: Logger;
  private db: Database | null;
  /** Held in memory, not yet in a transaction (or back from a failed one). */
  private queue: FlowRecord[] = [];
  /** Held in memory: records of failed commits, checked against the database before the next write. */
  private readonly inDoubt: InDoubt[] = [];
  private inDoubtRecords = 0;
  private readonly spill: DiskSpill | null;
  private nextRid = 0;
  /** Rid ranges (first -> count) of transactions not yet committed (or failed): the roll-up must not pass them. */
  private readonly uncommittedRids = new Map<number, number>();
  /** Records at the head of the queue that the async flush is writing right now. */
  private inFlight = 0;
  private chunkWriter: FlowChunkWriter | null = null;
  private syncChunkWriter: FlowChunkWriter | null = null;
  private flushChain: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private retryDelayMs = 0;
  private retryAt = 0;
  private failure: WriteFailure | null = null;
  /** Set when DuckDB invalidated the database, or its device refuses it: the next flush reopens it. */
  private invalidatedBy: unknown = null;
  /** Set when the file was found damaged while running: the next flush quarantines it. */
  private damagedBy: unknown = null;
  private closed = false;
  private replacing = false;
  /** Every block of the open database was read once (verifyAllBlocks). */
  private verified = false;
  private closing: Promise<void> | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private maintenanceChain: Promise<void> = Promise.resolve();
  private readonly batchListeners: BatchListener[] = [];
  private readonly errorListeners: ErrorListener[] = [];
  private readonly releaseListeners: (() => Promise<void>)[] = [];
  /** Earliest rollup minute written since the last compaction (Infinity: none). */
  private dirtyFromMinuteUs = Infinity;
  private lastFigures = { storedRecords: 0, rollupRows: 0, oldestUs: null as number | null, newestUs: null as number | null };
  private quarantinedCache: { at: number; files: QuarantinedFile[] } | null = null;
  private dropLog = { at: 0, since: 0 };
  private readonly counters_ = {
    received: 0, rowsWritten: 0, batchesWritten: 0, reopens: 0, lastError: null as string | null,
    dropped: { full: 0, invalid: 0, shutdown: 0 } as Record<DropReason, number>,
    errors: { disk_full: 0, read_only: 0, io: 0, damaged: 0, invalid_record: 0, maintenance: 0, other: 0 } as Record<StoreErrorKind, number>,
  };

  private constructor(db: Database | null, options: StoreOptions, spill: DiskSpill | null) {
    this.db = db;
    this.options = options;
    this.logger = options.logger ?? pino({ name: 'store' });
    this.spill = spill;
  }

  static async open(input: StoreOptionsInput): Promise<FlowStore> {
    const options: StoreOptions = { ...STORE_DEFAULTS, ...input };
    const logger = options.logger ?? pino({ name: 'store' });
    const spill = options.spillDir ? openSpill(options, logger) : null;
    let opened: Awaited<ReturnType<typeof openDatabase>>;
    try {
      opened = await openDatabase(options.path, options.duckdb, logger);
    } catch (error) {
      if (!deviceFailedUnder(options.path, error)) throw error;
      return FlowStore.openDegraded({ ...options, logger }, spill, error);
    }
    const { instance, movedAside } = opened;
    const store = new FlowStore(await connect(instance), { ...options, logger }, spill);
    await store.prepareSyncAppender();
    await store.continueRids();
    if (spill) {
      store.counters_.received += spill.records;
      await store.settleSpillInDoubt(); // before anything else is written: the rid ranges are only meaningful now
    }
    store.startTimers();
    logger.info({
      path: options.path, retentionDays: options.retentionDays, flushIntervalMs: options.flushIntervalMs,
      ...(movedAside.length ? { movedAside } : {}), ...(spill?.records ? { spilledRecords: spill.records } : {}),
    }, 'flow store open');
    return store;
  }

  /**
   * A database this agent wrote before, which its device now refuses (read-only, I/O error,
   * full): typically the restart after DuckDB aborted the process on such an error (see
   * deviceFailedUnder). Capture goes on: the store starts degraded, holds what it receives,
   * and opens the file once the device works again, as after any failed write.
   */
  private static openDegraded(options: StoreOptions & { logger: Logger }, spill: DiskSpill | null, error: unknown): FlowStore {
    const store = new FlowStore(null, options, spill);
    if (spill) store.counters_.received += spill.records; // settled against the database once it opens
    options.logger.error(
      { path: options.path, err: error },
      'STORE DATABASE CANNOT BE OPENED: its device refuses it; capturing on, records held until it can be opened again',
    );
    store.failed(error);
    store.startTimers();
    return store;
  }

  /** The DuckDB instance now (it changes when the store reopens its file). @throws StoreUnavailableError while there is none */
  get instance(): DuckDBInstance {
    return this.database();
  }

  // --- DatabaseSource (agent/src/query/pool.ts): how the query engine reaches the database ---

  database(): DuckDBInstance {
    if (!this.db || this.invalidatedBy !== null) {
      throw new StoreUnavailableError(`the flow store is reopening its database (${this.failure?.message ?? 'recovering'}); retry shortly`);
    }
    return this.db.instance;
  }

  /**
   * `release` must close every connection to the current database; it runs before the
   * database is closed and replaced. Returns the function that unregisters it.
   */
  onReplace(release: () => Promise<void>): () => void {
    this.releaseListeners.push(release);
    return () => {
      const index = this.releaseListeners.indexOf(release);
      if (index >= 0) this.releaseListeners.splice(index, 1);
    };
  }

  /**
   * Errors seen by queries: a damaged file or an invalidated database is repaired right away.
   * Returns the error the query should fail with instead (saying the store is recovering), if any.
   */
  reportError(error: unknown): Error | undefined {
    if (!this.noteDatabaseTrouble(error)) return undefined;
    this.repairSoon();
    return new StoreUnavailableError(`the flow store is repairing its database (${firstLine(error)}); retry shortly`);
  }

  onBatch(listener: BatchListener): void {
    this.batchListeners.push(listener);
  }

  onError(listener: ErrorListener): void {
    this.errorListeners.push(listener);
  }

  write(record: FlowRecord): void {
    this.counters_.received++;
    if (this.closed) {
      this.drop('shutdown', 1);
      return;
    }
    const invalid = invalidReason(record);
    if (invalid !== null) {
      this.drop('invalid', 1);
      this.countError('invalid_record', new Error(`invalid flow record (${invalid}): dropped`));
      return;
    }
    if (this.heldInMemory() >= this.options.maxBacklog && !this.makeRoom()) {
      this.drop('full', 1);
      return;
    }
    this.queue.push(record);
    if (!this.writable()) return; // the retry timer flushes
    if (this.queue.length - this.inFlight >= this.options.syncDrainRecords) this.drainSynchronously();
    if (this.queue.length >= this.options.batchSize && !this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        this.flush().catch(() => undefined); // counted and logged in failed()
      });
    }
  }

  /**
   * One attempt to write everything held (repairing the database first when needed).
   * Rejects with the storage error when it cannot; the records stay held and are retried.
   */
  flush(): Promise<void> {
    const run = this.flushChain.then(() => this.drain());
    this.flushChain = run.catch(() => undefined);
    return run;
  }

  /**
   * For producers that can wait (imports): resolves once writes work (`all`: once everything
   * held is written), retrying with the store's backoff meanwhile. Rejects with the signal's
   * reason when it aborts.
   */
  async settled(options: { all: boolean; signal?: AbortSignal }): Promise<void> {
    const { signal } = options;
    for (;;) {
      signal?.throwIfAborted();
      if (this.failure === null && !this.needsRepair() && (!options.all || this.held() === 0)) return;
      const wait = this.retryAt - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => signal?.throwIfAborted());
      await this.flush().catch(() => undefined);
    }
  }

  /** Committed, held and dropped records, and what writing waits for (null when nothing). */
  status(): SinkStatus {
    const waiting = this.failure
      ? `${FAILURE_TEXT[this.failure.kind] ?? 'storage error'} (${shortCause(this.failure.message)}); retry in ${Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000))} s`
      : null;
    return { committed: this.counters_.rowsWritten, held: this.held(), dropped: this.droppedTotal(), waiting };
  }

  /**
   * Writes what it holds (one attempt); what still cannot be written goes to the spill
   * files (written at the next start) or is counted as dropped (reason `shutdown`) and logged.
   */
  close(): Promise<void> {
    return (this.closing ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    let stored = true;
    try {
      await this.flush();
    } catch {
      stored = false;
    }
    this.closed = true;
    await this.flushChain; // a repair queued by the last failure ends (it does nothing once closed)
    if (!stored) this.keepOrDropAtClose();
    if (this.db && this.failure === null) {
      try {
        await this.rollUp();
      } catch (error) {
        this.logger.warn({ err: error }, 'roll-up at close failed (the next start catches up)');
      }
      await this.maintenanceChain;
      try {
        await this.db.writer.run('CHECKPOINT');
      } catch (error) {
        this.logger.warn({ err: error }, 'checkpoint at close failed (the WAL is replayed at next open)');
      }
    }
    await this.maintenanceChain;
    if (this.db) closeDatabase(this.db);
    this.db = null;
  }

  /**
   * What the store holds that a query of the database cannot see yet, at this instant: the
   * records accepted but not known to be committed (oldest first: those of in-doubt
   * transactions, then the queue), and which rows of the database a query consistent with
   * this instant may read (rid below `ridLimit` and outside `hiddenRids`, whose rows are among
   * `records` — or in spill files, which are not read here: spilled records are seen once
   * written). Invariant this relies on: a record leaves the queue or an in-doubt batch in the
   * same synchronous step in which its rid range stops being uncommitted.
   */
  pendingView(): PendingView {
    const records: FlowRecord[] = [];
    for (const batch of this.inDoubt) for (const r of batch.records) records.push(r);
    for (const r of this.queue) records.push(r);
    return {
      records,
      ridLimit: this.nextRid,
      hiddenRids: [...this.uncommittedRids].map(([first, n]) => [first, first + n] as [number, number]),
    };
  }

  counters(): StoreCounters {
    const c = this.counters_;
    return {
      received: c.received, rowsWritten: c.rowsWritten, batchesWritten: c.batchesWritten,
      backlog: this.held(), spilledRecords: this.spill?.records ?? 0, spillBytes: this.spill?.bytes ?? 0,
      backlogDropped: this.droppedTotal(), dropped: { ...c.dropped }, errors: { ...c.errors }, lastError: c.lastError, reopens: c.reopens,
    };
  }

  /** What is wrong, from memory and one directory listing (cheap enough for every /health request). */
  health(): StoreHealth {
    const problems: string[] = [];
    const failure = this.failure;
    if (failure) {
      const spilled = this.spill?.records ? ` (${count(this.spill.records)} of them in spill files)` : '';
      const dropped = this.droppedTotal() ? `; ${count(this.droppedTotal())} dropped since start (see backlog_dropped)` : '';
      problems.push(
        `writes failing since ${new Date(failure.since).toISOString()}: ${FAILURE_TEXT[failure.kind] ?? 'storage error'} (${failure.message}); ` +
          `${count(this.held())} records held${spilled}${dropped}; retrying`,
      );
    }
    const quarantined = this.quarantined();
    for (const file of quarantined) {
      problems.push(`damaged database file moved aside at ${file.movedAt}: ${file.path}; its records are not served — inspect it, then delete it to clear this`);
    }
    return {
      state: problems.length ? 'degraded' : 'ok', problems,
      writesFailingSince: failure ? new Date(failure.since).toISOString() : null, quarantined,
    };
  }

  async stats(): Promise<StoreStats> {
    const db = this.db;
    if (db && !this.needsRepair()) {
      let connection: DuckDBConnection | null = null;
      try {
        connection = await db.instance.connect();
        const reader = await connection.runAndReadAll(
          'SELECT (SELECT count(*) FROM flows), (SELECT count(*) FROM flows_1m), (SELECT min(start_us) FROM flows), (SELECT max(end_us) FROM flows)',
        );
        const [records, rollupRows, oldest, newest] = reader.getRows()[0];
        this.lastFigures = {
          storedRecords: Number(records), rollupRows: Number(rollupRows),
          oldestUs: oldest === null ? null : Number(oldest), newestUs: newest === null ? null : Number(newest),
        };
      } catch (error) {
        this.reportError(error); // the last known figures are answered meanwhile
      } finally {
        connection?.closeSync();
      }
    }
    return {
      ...this.counters(), ...this.health(), ...this.fileSizes(), ...this.lastFigures,
      path: this.options.path, retentionDays: this.options.retentionDays,
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

  // --- holding, spilling, dropping ---

  private held(): number {
    return this.heldInMemory() + (this.spill?.records ?? 0);
  }

  private heldInMemory(): number {
    return this.queue.length + this.inDoubtRecords;
  }

  private droppedTotal(): number {
    const d = this.counters_.dropped;
    return d.full + d.invalid + d.shutdown;
  }

  /** Writes can be attempted now (no failure waiting for its retry, nothing to repair first). */
  private writable(): boolean {
    return this.failure === null && !this.needsRepair() && this.db !== null;
  }

  private needsRepair(): boolean {
    return this.db === null || this.invalidatedBy !== null || this.damagedBy !== null || this.inDoubt.length > 0;
  }

  /** Memory is full: write synchronously when writes work (a producer that never yields), else spill the newest records. */
  private makeRoom(): boolean {
    if (this.writable()) {
      this.drainSynchronously();
      if (this.heldInMemory() < this.options.maxBacklog) return true;
    }
    return this.spillNewest();
  }

  /**
   * Moves the newest queued records — or, with none queued, the last records of an in-doubt
   * transaction, marked with its rid range — to a spill file; false when it cannot.
   */
  private spillNewest(): boolean {
    const spill = this.spill;
    if (!spill) return false;
    const chunk = Math.max(1, Math.min(this.options.batchSize, Math.floor(this.options.maxBacklog / 4)));
    const queued = this.queue.length - this.inFlight;
    const batch = queued > 0 ? null : this.inDoubt[this.inDoubt.length - 1];
    const from = batch ? batch.records : this.queue;
    const n = Math.min(chunk, batch ? batch.records.length : queued);
    if (n <= 0) return false;
    try {
      if (!spill.write(from.slice(from.length - n), batch ? { firstRid: batch.firstRid, count: batch.count } : null)) return false;
    } catch (error) {
      this.logger.error({ err: error, dir: spill.dir }, 'cannot write the spill file; records beyond the memory backlog are dropped');
      return false;
    }
    from.length -= n;
    if (batch) {
      this.inDoubtRecords -= n;
      if (batch.records.length === 0) this.inDoubt.pop(); // the rest of it is settled through its spill files
    }
    return true;
  }

  private drop(reason: DropReason, n: number): void {
    this.counters_.dropped[reason] += n;
    if (reason === 'invalid') return; // logged (once) and counted as an error by kind
    const now = Date.now();
    if (now - this.dropLog.at < DROP_LOG_INTERVAL_MS) return;
    this.logger.error(
      { reason, dropped: this.droppedTotal() - this.dropLog.since, droppedTotal: this.droppedTotal(), held: this.held(), maxBacklog: this.options.maxBacklog },
      reason === 'full'
        ? 'STORE DROPPING RECORDS: the database cannot be written and the memory backlog (and spill) are full'
        : 'STORE DROPPING RECORDS: they arrived after the store was closed',
    );
    this.dropLog = { at: now, since: this.droppedTotal() };
  }

  /** At close, with writes still failing: records held in memory go to spill files when possible, else are dropped and counted. */
  private keepOrDropAtClose(): void {
    let spilled = 0;
    const spill = this.spill;
    const batches: { records: FlowRecord[]; transaction: RidRange | null }[] = [
      // In-doubt records keep their transaction's rid range: the next start checks it.
      ...this.inDoubt.map((b) => ({ records: b.records, transaction: { firstRid: b.firstRid, count: b.count } })),
      { records: this.queue, transaction: null },
    ];
    const chunk = Math.max(1, this.options.batchSize);
    for (const batch of batches) {
      for (let i = 0; i < batch.records.length; i += chunk) {
        const part = batch.records.slice(i, i + chunk);
        let kept = false;
        try {
          kept = spill !== null && spill.write(part, batch.transaction);
        } catch (error) {
          this.logger.error({ err: error, dir: spill?.dir }, 'cannot write the spill file at close');
        }
        if (kept) spilled += part.length;
        else this.counters_.dropped.shutdown += part.length;
      }
    }
    const dropped = this.heldInMemory() - spilled;
    this.queue = [];
    this.inDoubt.length = 0;
    this.inDoubtRecords = 0;
    if (spilled) this.logger.warn({ spilled, dir: spill?.dir, lastError: this.counters_.lastError }, 'store closed while writes fail: held records kept in spill files, written at the next start');
    if (dropped) this.logger.error({ dropped, lastError: this.counters_.lastError }, 'STORE CLOSED WITH RECORDS THAT COULD NOT BE WRITTEN: they are lost (counted as dropped, reason shutdown)');
  }

  // --- the write path ---

  private async drain(): Promise<void> {
    try {
      await this.repair();
      while (this.queue.length > 0 || (this.spill?.fileCount ?? 0) > 0) {
        if (this.queue.length > 0) await this.writeQueued();
        else await this.writeSpillFile(this.spill!.oldest()!);
      }
    } catch (error) {
      this.failed(error);
      throw error;
    }
    this.recovered(); // also when it was repaired with nothing left to write
  }

  private async writeQueued(): Promise<void> {
    const n = transactionSize(this.queue.length, this.options.maxTransactionRecords);
    const records = this.queue.slice(0, n);
    const started = process.hrtime.bigint();
    const firstRid = this.reserveRids(n);
    this.inFlight = n;
    try {
      await this.transaction(records, firstRid);
    } catch (error) {
      this.inFlight = 0;
      this.queue.splice(0, n);
      this.addInDoubt({ records, firstRid, count: n }); // its rid range stays uncommitted until settled
      throw error;
    }
    // one synchronous step (see pendingView): committed rows become visible as they leave the queue
    this.uncommittedRids.delete(firstRid);
    this.inFlight = 0;
    this.queue.splice(0, n);
    this.written(n, started);
  }

  private async writeSpillFile(file: SpillFile): Promise<void> {
    const spill = this.spill!;
    const records = (await spill.read(file)).filter((r) => invalidReason(r) === null);
    const started = process.hrtime.bigint();
    if (records.length > 0) {
      const firstRid = this.reserveRids(records.length);
      try {
        spill.setTransaction(file, { firstRid, count: records.length });
      } catch (error) {
        this.uncommittedRids.delete(firstRid);
        throw error;
      }
      // On failure the file keeps this rid range (and the range stays uncommitted) until settled.
      await this.transaction(records, firstRid);
      this.uncommittedRids.delete(firstRid);
    }
    this.spillFileStored(file, records.length);
    if (records.length) this.written(records.length, started);
  }

  /** The file's records are in the database: it goes; records it held that were not valid are counted as dropped. */
  private spillFileStored(file: SpillFile, stored: number): void {
    this.spill!.remove(file);
    if (file.records > stored) {
      this.counters_.dropped.invalid += file.records - stored;
      this.logger.warn({ file: file.path, records: file.records, unreadable: file.records - stored }, 'spill file had unreadable records: counted as dropped');
    }
  }

  /**
   * A producer that never yields to the event loop (a capture file read in one native
   * call) would fill the backlog before any async flush could run. Once that many records
   * wait, they are written right here, synchronously: a long-lived appender in auto-commit
   * mode commits on flushSync(). Records the async flush is writing are left to it.
   */
  private drainSynchronously(): void {
    const db = this.db;
    const appender = db?.syncAppender;
    if (!db || !appender || !this.syncChunkWriter || !this.writable()) return;
    const n = transactionSize(this.queue.length - this.inFlight, this.options.maxTransactionRecords);
    if (n === 0) return;
    const records = this.queue.slice(this.inFlight, this.inFlight + n);
    const started = process.hrtime.bigint();
    const firstRid = this.reserveRids(n);
    try {
      this.syncChunkWriter.append(appender, records, firstRid);
      appender.flushSync();
    } catch (error) {
      db.syncAppender = null; // its buffered rows are unknown now: the next repair makes a fresh one
      try {
        appender.closeSync();
      } catch {
        // the failed flush already invalidated it
      }
      this.queue.splice(this.inFlight, n);
      this.addInDoubt({ records, firstRid, count: n }); // its rid range stays uncommitted until settled
      this.failed(error);
      return;
    }
    this.uncommittedRids.delete(firstRid);
    this.queue.splice(this.inFlight, n);
    this.written(n, started);
  }

  private addInDoubt(batch: InDoubt): void {
    this.inDoubt.push(batch);
    this.inDoubtRecords += batch.records.length;
  }

  private async transaction(records: FlowRecord[], firstRid: number): Promise<void> {
    const writer = this.db!.writer;
    await writer.run('BEGIN TRANSACTION');
    try {
      const appender = await writer.createAppender('flows');
      try {
        this.chunkWriter ??= await FlowChunkWriter.forAppender(appender);
        this.chunkWriter.append(appender, records, firstRid);
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      await writer.run('COMMIT');
    } catch (error) {
      await writer.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** A transaction committed: writes work (again). */
  private written(n: number, started: bigint): void {
    this.recovered();
    this.countWritten(n, started);
  }

  /** Records found stored (also those of an in-doubt transaction, which says nothing about writes working now). */
  private countWritten(n: number, started: bigint): void {
    this.counters_.rowsWritten += n;
    this.counters_.batchesWritten++;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const listener of this.batchListeners) listener(seconds, n);
  }

  /** A write succeeded: writes work again. */
  private recovered(): void {
    if (this.failure) {
      this.logger.info(
        { failingForMs: Date.now() - this.failure.since, held: this.held(), dropped: this.droppedTotal() },
        'store writes recovered; writing the held records',
      );
    }
    this.failure = null;
    this.retryDelayMs = 0;
    this.retryAt = 0;
  }

  private failed(error: unknown): void {
    const kind = classifyStorageError(error);
    this.countError(kind, error);
    // Repaired at once (reopened or quarantined, the failed commit settled), so queries work
    // and the held records can be spilled while the write waits for its retry.
    this.noteDatabaseTrouble(error);
    this.repairSoon();
    const message = firstLine(error);
    this.failure = { since: this.failure?.since ?? Date.now(), kind, message };
    this.retryDelayMs = Math.min(this.options.retryMaxMs, this.retryDelayMs === 0 ? this.options.retryInitialMs : this.retryDelayMs * 2);
    this.retryAt = Date.now() + this.retryDelayMs;
    this.logger.error(
      { err: error, kind, held: this.held(), spilled: this.spill?.records ?? 0, retryInMs: this.retryDelayMs },
      `store write failed (${kind}); records held and retried`,
    );
  }

  /** Remembers an error that leaves the database unusable (invalidated) or shows the file damaged; true when it does. */
  private noteDatabaseTrouble(error: unknown): boolean {
    if (isDamageError(error)) {
      this.damagedBy ??= error;
      return true;
    }
    if (isInvalidated(error) || deviceRefuses(error)) {
      this.invalidatedBy ??= error;
      return true;
    }
    return false;
  }

  // --- repair: reopen, quarantine, in-doubt transactions ---

  /** Repairs the database next on the write path, without writing; a failure waits for the next retry. */
  private repairSoon(): void {
    const run = this.flushChain.then(() => (this.closed ? undefined : this.repair()));
    this.flushChain = run.catch(() => undefined);
    run.catch((error: unknown) => this.logger.warn({ err: error }, 'store database repair failed; retried with the next write'));
  }

  /** Makes the database usable again and settles every in-doubt transaction; throws when it cannot (yet). */
  private async repair(): Promise<void> {
    if (this.damagedBy !== null || this.invalidatedBy !== null || this.db === null) await this.replaceDatabase();
    while (this.inDoubt.length > 0) {
      const batch = this.inDoubt[0];
      const stored = await this.settleInDoubt(batch);
      // one synchronous step (see pendingView): the range is settled as its records move
      this.uncommittedRids.delete(batch.firstRid);
      this.inDoubt.shift();
      this.inDoubtRecords -= batch.records.length;
      if (stored) {
        this.countWritten(batch.records.length, process.hrtime.bigint());
      } else {
        this.queue = batch.records.concat(this.queue); // written again, first
      }
    }
    if (this.spill) await this.settleSpillInDoubt();
    if (this.db && !this.db.syncAppender) await this.prepareSyncAppender();
  }

  /** True when the transaction's rows are in the table; a partial set (never seen) is deleted so it can be written again. */
  private async settleInDoubt(range: RidRange): Promise<boolean> {
    const writer = this.db!.writer;
    const reader = await writer.runAndReadAll('SELECT count(*) FROM flows WHERE rid >= $1::UBIGINT AND rid < $2::UBIGINT', [range.firstRid, range.firstRid + range.count]);
    const present = Number(reader.getRows()[0][0]);
    if (present === range.count) {
      this.logger.warn({ ...range }, 'a commit reported as failed had stored its records: counted as written, not written again');
      return true;
    }
    if (present > 0) {
      this.logger.warn({ ...range, present }, 'a failed commit left part of its records: deleted, the whole transaction is written again');
      await writer.run('DELETE FROM flows WHERE rid >= $1::UBIGINT AND rid < $2::UBIGINT', [range.firstRid, range.firstRid + range.count]);
    }
    return false;
  }

  /**
   * Spill files whose transaction's outcome is unknown (a crash or a failed commit; spilled
   * while in doubt). Their rid ranges were reserved by this process, or by an earlier one
   * when this runs at open, before anything is written: either way no other records have them.
   */
  private async settleSpillInDoubt(): Promise<void> {
    const outcomes = new Map<number, boolean>(); // one transaction's records may be in several files
    for (const file of this.spill!.inDoubt()) {
      const range = file.transaction!;
      let stored = outcomes.get(range.firstRid);
      if (stored === undefined) outcomes.set(range.firstRid, (stored = await this.settleInDoubt(range)));
      if (!this.inDoubt.some((batch) => batch.firstRid === range.firstRid)) this.uncommittedRids.delete(range.firstRid);
      if (stored) {
        this.spillFileStored(file, file.records);
        this.countWritten(file.records, process.hrtime.bigint());
      } else {
        this.spill!.setTransaction(file, null);
      }
    }
  }

  /**
   * Closes the database (after the query connections to it are released) and opens the
   * file again — or, when it was found damaged, moves it aside and opens a fresh one.
   */
  private async replaceDatabase(): Promise<void> {
    const old = this.db;
    const damaged = this.damagedBy;
    const cause = damaged ?? this.invalidatedBy;
    if (old) {
      this.db = null;
      this.replacing = true;
      old.maintainer.interrupt();
      await Promise.race([
        Promise.all([...this.releaseListeners.map((release) => release()), this.maintenanceChain]),
        sleep(RELEASE_TIMEOUT_MS, undefined, { ref: false }),
      ]);
      closeDatabase(old);
      this.replacing = false;
      this.chunkWriter = null;
      this.syncChunkWriter = null;
      if (damaged) {
        const moved = quarantine(this.options.path, 'database');
        this.quarantinedCache = null;
        this.logger.error({ err: damaged, movedTo: moved }, 'STORE DATABASE DAMAGED while running: moved it aside; opening a fresh database');
      }
    }
    this.damagedBy = null;
    this.invalidatedBy = null;
    const { instance, movedAside } = await openDatabase(this.options.path, this.options.duckdb, this.logger);
    if (movedAside.length) this.quarantinedCache = null;
    this.db = await connect(instance);
    this.verified = false;
    await this.continueRids();
    this.counters_.reopens++;
    this.logger.warn({ cause: cause === null ? undefined : firstLine(cause) }, 'store database reopened');
  }

  private async continueRids(): Promise<void> {
    // After retention emptied the table, rids must still continue above the rollup watermark.
    const maxRid = await this.db!.writer.runAndReadAll('SELECT greatest(coalesce(max(rid) + 1, 0), (SELECT max(rid) FROM rollup_state)) FROM flows');
    this.nextRid = Math.max(this.nextRid, Number(maxRid.getRows()[0][0]));
  }

  private async prepareSyncAppender(): Promise<void> {
    const db = this.db!;
    const appender = await db.syncWriter.createAppender('flows');
    this.syncChunkWriter ??= await FlowChunkWriter.forAppender(appender);
    if (this.closed || this.db !== db) appender.closeSync();
    else db.syncAppender = appender;
  }

  /** Reserves rids for a transaction; the caller removes the mark once it committed or failed. */
  private reserveRids(n: number): number {
    const first = this.nextRid;
    this.nextRid += n;
    this.uncommittedRids.set(first, n);
    return first;
  }

  /** Rids below this belong to committed (or abandoned) transactions. */
  private committedRidFrontier(): number {
    let frontier = this.nextRid;
    for (const first of this.uncommittedRids.keys()) frontier = Math.min(frontier, first);
    return frontier;
  }

  private quarantined(): QuarantinedFile[] {
    const now = Date.now();
    if (!this.quarantinedCache || now - this.quarantinedCache.at > 1000) this.quarantinedCache = { at: now, files: findQuarantined(this.options.path) };
    return this.quarantinedCache.files;
  }

  // --- maintenance ---

  private get maintainer(): DuckDBConnection {
    if (!this.db) throw new StoreUnavailableError('the flow store has no open database');
    return this.db.maintainer;
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
      // refuses, and a later one (a maintenance pass's, or DuckDB's own) does it instead. A
      // checkpoint that fails for lack of space invalidates the database: the next flush reopens it.
      await this.maintainer.run('CHECKPOINT').catch((error: unknown) => {
        if (this.noteDatabaseTrouble(error)) this.countError('maintenance', error);
        else this.logger.debug({ err: error }, 'checkpoint after retention deferred');
      });
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
    const maintainer = this.maintainer;
    const newest = await maintainer.runAndReadAll('SELECT max(minute_us) FROM flows_1m');
    const newestMinute = newest.getRows()[0][0] as bigint | null;
    if (newestMinute === null) return;
    const from = this.dirtyFromMinuteUs;
    const upTo = Number(newestMinute);
    if (upTo <= from) return;
    await maintainer.run('BEGIN TRANSACTION');
    try {
      for (const sql of ROLLUP_COMPACT_SQL) await maintainer.run(sql, sql.includes('$1') ? [from, upTo] : []);
      await maintainer.run('COMMIT');
    } catch (error) {
      await maintainer.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
    if (this.dirtyFromMinuteUs === from) this.dirtyFromMinuteUs = upTo;
  }

  /** Aggregates every committed raw row not yet in the rollup (in bounded slices). Returns rows rolled up. */
  rollUp(): Promise<number> {
    return this.serialised(async () => {
      const maintainer = this.maintainer;
      const state = await maintainer.runAndReadAll('SELECT rid FROM rollup_state');
      let from = Number(state.getRows()[0][0]);
      const end = this.committedRidFrontier();
      let rolled = 0;
      while (from < end) {
        const to = Math.min(end, from + this.options.rollupSliceRecords);
        await maintainer.run('BEGIN TRANSACTION');
        try {
          const earliest = await maintainer.runAndReadAll(
            'SELECT min(minute_us) FROM flows WHERE rid >= $1::UBIGINT AND rid < $2::UBIGINT', [from, to],
          );
          await maintainer.run(ROLLUP_INSERT_SQL, [from, to]);
          await maintainer.run('UPDATE rollup_state SET rid = $1::UBIGINT', [to]);
          await maintainer.run('COMMIT');
          const earliestMinute = earliest.getRows()[0][0];
          if (earliestMinute !== null) this.dirtyFromMinuteUs = Math.min(this.dirtyFromMinuteUs, Number(earliestMinute));
        } catch (error) {
          await maintainer.run('ROLLBACK').catch(() => undefined);
          throw error;
        }
        rolled += to - from;
        from = to;
      }
      return rolled;
    });
  }

  /**
   * One maintenance pass: the first after each open reads every block (damage found is
   * quarantined), then roll up, retention, compaction. Errors are counted and logged, never
   * thrown. Skipped while degraded.
   */
  async runMaintenance(): Promise<void> {
    if (!this.writable()) return;
    try {
      if (!this.verified) {
        await this.serialised(() => verifyAllBlocks(this.maintainer, this.options.path));
        this.verified = true;
      }
      await this.rollUp();
      await this.runRetention();
      await this.compactRollups();
      await this.checkpointLargeWal();
    } catch (error) {
      this.maintenanceFailed(error);
    }
  }

  /**
   * Checkpoints when the WAL is over DuckDB's default threshold: the store raises DuckDB's
   * own threshold for busy nodes (STORE_DUCKDB_DEFAULTS), and this keeps a quiet node's WAL,
   * and the memory it holds, as small as before. DuckDB refuses while a write is in flight;
   * the next pass tries again.
   */
  private async checkpointLargeWal(): Promise<void> {
    if (this.fileSizes().walBytes < MAINTENANCE_CHECKPOINT_WAL_BYTES) return;
    await this.serialised(() => this.maintainer.run('CHECKPOINT')).catch((error: unknown) => {
      if (this.noteDatabaseTrouble(error)) this.countError('maintenance', error);
      else this.logger.debug({ err: error }, 'maintenance checkpoint deferred');
    });
  }

  private maintenanceFailed(error: unknown): void {
    if (this.replacing && /INTERRUPT/i.test(String((error as Error)?.message))) return; // interrupted by replaceDatabase
    this.countError('maintenance', error);
    if (this.noteDatabaseTrouble(error)) this.flush().catch(() => undefined);
  }

  /** Runs maintenance work one task at a time on the maintenance connection. */
  private serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.maintenanceChain.then(task);
    this.maintenanceChain = run.then(() => undefined, () => undefined);
    return run;
  }

  private startTimers(): void {
    const flushTimer = setInterval(() => {
      if ((this.held() > 0 || this.needsRepair()) && Date.now() >= this.retryAt) this.flush().catch(() => undefined);
    }, this.options.flushIntervalMs);
    const rollupTimer = setInterval(() => {
      if (this.writable()) this.rollUp().catch((error: unknown) => this.maintenanceFailed(error));
    }, this.options.rollupIntervalMs);
    const maintenanceTimer = setInterval(() => void this.runMaintenance(), this.options.maintenanceIntervalMs);
    for (const timer of [flushTimer, rollupTimer, maintenanceTimer]) {
      timer.unref();
      this.timers.push(timer);
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

async function connect(instance: DuckDBInstance): Promise<Database> {
  return {
    instance,
    writer: await instance.connect(),
    maintainer: await instance.connect(),
    syncWriter: await instance.connect(),
    syncAppender: null,
  };
}

/** Closes the store's connections and the instance; errors of a database DuckDB already gave up on are ignored. */
function closeDatabase(db: Database): void {
  const attempt = (close: () => void) => {
    try {
      close();
    } catch {
      // an invalidated database may refuse; it is being dropped either way
    }
  };
  if (db.syncAppender) attempt(() => db.syncAppender!.closeSync());
  db.syncAppender = null;
  attempt(() => db.writer.closeSync());
  attempt(() => db.syncWriter.closeSync());
  attempt(() => db.maintainer.closeSync());
  attempt(() => db.instance.closeSync());
}

function openSpill(options: StoreOptions, logger: Logger): DiskSpill {
  let spill: DiskSpill;
  try {
    spill = DiskSpill.open(options.spillDir, options.spillMaxBytes, options.path);
  } catch (error) {
    throw new Error(`store.spill_dir ${options.spillDir}: ${firstLine(error)}`, { cause: error });
  }
  try {
    if (fs.statSync(options.spillDir).dev === fs.statSync(path.dirname(path.resolve(options.path))).dev) {
      logger.warn({ spillDir: options.spillDir, path: options.path }, 'store.spill_dir is on the same filesystem as the database: it cannot hold records when that filesystem is full');
    }
  } catch {
    // the database directory is checked when the database opens
  }
  return spill;
}
