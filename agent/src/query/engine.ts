/**
 * QueryEngine: answers the structured query model (agent/src/model/query.ts) from the flow
 * store's DuckDB file. SQL is assembled from whitelisted identifiers only; request values
 * are bound parameters.
 *
 * Aggregates (`top`, `timeseries`, `summary`, `values`) read a "facts" relation: raw rows,
 * or, when the rollup holds every dimension and filter the query needs and the range spans
 * at least `rollupMinRangeMs`, per-minute rollup rows for the whole minutes inside the range
 * plus raw rows for the partial minutes at its edges and for rows not yet rolled up. Each
 * record is attributed to its start (per the contract), so both paths give identical totals.
 *
 * Timeseries buckets are aligned to multiples of interval_ms since the epoch (stable as a
 * dashboard's range slides); the first bucket may start before `from` and then only counts
 * records from `from` on.
 *
 * include_open (see agent/src/live): the live snapshot is taken when the query is accepted;
 * raw records are then read from the stored rows visible at that instant plus the snapshot's
 * open and pending records (a temporary table), and the rollup only for minutes that can no
 * longer change (before the snapshot's settled time). So one answer is the state of one
 * instant: every packet counted once, whether its record is open, pending or stored.
 */
import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import type { FlowRecord } from '../model/flow';
import type {
  Dimension, FlowsQuery, FlowsResult, GroupKey, LiveInfo, Metric, Query, QueryResult, SummaryQuery, SummaryResult,
  TimeseriesQuery, TimeseriesResult, TopQuery, TopResult, ValuesQuery, ValuesResult,
} from '../model/query';
import { CONNECTION_DIMENSIONS, DIMENSIONS, MAX_GROUP_BY, MAX_SPLIT_BY, METRIC_AGGREGATION, METRICS } from '../model/query';
import type { LiveSnapshot, LiveSource } from '../live';
import { FLOW_COLUMNS } from '../store/schema';
import { checkCursorDatabase, decodeCursor, encodeCursor, queryFingerprint, readDatabaseId } from './cursor';
import { QueryInputError, RowBudgetError } from './errors';
import { compileFilters, dimensionExpression, Params, rollupCoversDimension, rollupCoversFilter } from './filters';
import { LIVE_TABLE, withLiveTable } from './live-table';
import {
  bucketMetric, emptyTotals, FACT_TOTALS, GROUP_TOTAL_COLUMNS, GROUP_TOTALS, groupMetricSql, metricValue, RAW_MEASURES,
  ROLLUP_MEASURES, TOTAL_WIDTH, totalsFrom, totalsOver,
} from './metrics';
import { ConnectionPool, type DatabaseSource } from './pool';

export interface QueryEngineOptions {
  /** Queries running at once (each on its own connection). */
  maxConcurrent: number;
  /** Queries waiting for a slot; beyond this a query gets BusyError. */
  maxQueued: number;
  /** Default per-query deadline (ms), including time spent waiting for a slot. */
  timeoutMs: number;
  /** Default row budget: the most rows (records, groups, series x buckets, values) one answer may hold. */
  rowBudget: number;
  /** Most timeseries buckets per query. */
  maxBuckets: number;
  /** `off` reads raw rows only (for comparison and debugging). */
  rollups: 'auto' | 'off';
  /** Shortest range for which the rollup is used. */
  rollupMinRangeMs: number;
}

export const QUERY_DEFAULTS: QueryEngineOptions = {
  maxConcurrent: 2,
  maxQueued: 16,
  timeoutMs: 30_000,
  rowBudget: 1_000_000,
  maxBuckets: 20_000,
  rollups: 'auto',
  rollupMinRangeMs: 3_600_000,
};

export interface RunOptions {
  /** Who asks (the HTTP client's address): admission is fair across clients. */
  client?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  rowBudget?: number;
}

const MINUTE_US = 60_000_000;
/** First scan window of a flows page (widened 4x per step). */
const FLOWS_FIRST_WINDOW_US = 5 * MINUTE_US;
/** Largest |epoch ms| whose µs value is still a safe integer. */
const MAX_EPOCH_MS = 9_000_000_000_000;

/** Record fields in contract order, as stored (rid, minute_us and the numeric addresses are store internals). */
const RECORD_FIELDS = FLOW_COLUMNS.map(([name]) => name).filter((n) => n !== 'rid' && n !== 'minute_us' && !/_ip_(hi|lo)$/.test(n));
const ENUM_FIELDS = new Set(FLOW_COLUMNS.filter(([, type]) => type.startsWith('fm_')).map(([name]) => name));
const RECORD_SELECT = RECORD_FIELDS.map((n) => (ENUM_FIELDS.has(n) ? `CAST("${n}" AS VARCHAR) AS "${n}"` : `"${n}"`)).join(', ');

const METRIC_SET = new Set<string>(METRICS);
const DIMENSION_SET = new Set<string>(DIMENSIONS);

interface Range {
  fromUs: number;
  toUs: number;
}

/** Whole minutes [aUs, bUs) read from the rollup; the rest of the range is read raw. */
interface RollupSpan {
  aUs: number;
  bUs: number;
}

/** Where one query reads records: the stored ones, or (include_open) those of a live snapshot. */
interface Source {
  /** SQL relation of raw records (columns of `flows`). */
  raw: string;
  live: LiveSnapshot | null;
  /** The answer's `live` (include_open only). */
  info: LiveInfo | undefined;
}

const STORED: Source = { raw: 'flows', live: null, info: undefined };

/** An integer we computed, as SQL text (never request input). */
function sqlInteger(n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`not a safe integer: ${n}`);
  return String(n);
}

const num = (value: DuckDBValue): number => (typeof value === 'bigint' ? Number(value) : value === null ? 0 : (value as number));

function keyValue(value: DuckDBValue): string | number | null {
  if (value === null) return null;
  if (typeof value === 'bigint') return Number(value);
  return typeof value === 'number' ? value : String(value);
}

function checkMetric(metric: unknown): Metric {
  const m = metric ?? 'bytes';
  if (typeof m !== 'string' || !METRIC_SET.has(m)) throw new QueryInputError('metric', `unknown metric ${String(m)}`);
  return m as Metric;
}

function checkDimensions(dimensions: unknown, field: string, min: number, max: number): Dimension[] {
  if (!Array.isArray(dimensions) || dimensions.length < min || dimensions.length > max) {
    throw new QueryInputError(field, `between ${min} and ${max} dimensions`);
  }
  for (const d of dimensions) if (!DIMENSION_SET.has(d)) throw new QueryInputError(field, `unknown dimension ${String(d)}`);
  return [...new Set(dimensions as Dimension[])];
}

function checkInteger(value: unknown, field: string, fallback: number, min: number, max: number): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new QueryInputError(field, `an integer in [${min}, ${max}]`);
  return n;
}

export class QueryEngine {
  readonly options: QueryEngineOptions;
  /** How aggregate queries were answered (for metrics and tests). */
  readonly plans = { rollup: 0, raw: 0 };
  private readonly pool: ConnectionPool;
  private live: LiveSource | null = null;

  /** @param database a DuckDB instance, or a source whose database may be replaced while running (the flow store) */
  constructor(database: DuckDBInstance | DatabaseSource, options: Partial<QueryEngineOptions> = {}) {
    this.options = { ...QUERY_DEFAULTS, ...options };
    this.pool = new ConnectionPool(database, this.options.maxConcurrent, this.options.maxQueued);
  }

  /** Running and waiting queries (for metrics). */
  get load(): { running: number; queued: number } {
    return this.pool.load;
  }

  /** Why a query of `client` would be refused now (BusyError), or null: lets a caller refuse before parsing. */
  refusal(client: string): Error | null {
    return this.pool.refusal(client);
  }

  /** Where include_open queries find open flows (`run`: the flow table and the store). */
  attachLive(source: LiveSource): void {
    this.live = source;
  }

  close(): void {
    this.pool.close();
  }

  async run(query: Query, runOptions: RunOptions = {}): Promise<QueryResult> {
    const budget = runOptions.rowBudget ?? this.options.rowBudget;
    const timeoutMs = runOptions.timeoutMs ?? this.options.timeoutMs;
    const range = this.checkRange(query);
    // Validate and build everything before taking a connection: bad input costs no slot.
    // The live snapshot is taken here too: the answer is the state of this instant.
    const source = this.source(query, range);
    const prepared = this.prepare(query, range, budget, source);
    return this.pool.withConnection(runOptions.client ?? '', timeoutMs, runOptions.signal, async (connection) => {
      const result = source.live
        ? await withLiveTable(connection, source.live.records, source.live.ridLimit, () => prepared(connection))
        : await prepared(connection);
      if (source.info) result.live = source.info;
      return result;
    });
  }

  private prepare(query: Query, range: Range, budget: number, source: Source): (c: DuckDBConnection) => Promise<QueryResult> {
    switch (query.kind) {
      case 'flows':
        return this.flows(query, range, budget, source);
      case 'top':
        return this.top(query, range, budget, source);
      case 'timeseries':
        return this.timeseries(query, range, budget, source);
      case 'summary':
        return this.summary(query, range, source);
      case 'values':
        return this.values(query, range, budget, source);
      default:
        throw new QueryInputError('kind', `unknown query kind ${String((query as { kind: unknown }).kind)}`);
    }
  }

  private checkRange(query: Query): Range {
    for (const field of ['from', 'to'] as const) {
      const v = query[field];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || Math.abs(v) > MAX_EPOCH_MS) {
        throw new QueryInputError(field, 'an integer epoch in milliseconds');
      }
    }
    if (query.from >= query.to) throw new QueryInputError('to', 'must be greater than from (the range is [from, to))');
    return { fromUs: query.from * 1000, toUs: query.to * 1000 };
  }

  /** The records a query reads: stored ones, or with include_open a live snapshot taken now. */
  private source(query: Query, range: Range): Source {
    if (query.include_open === undefined || query.include_open === false) return STORED;
    if (query.include_open !== true) throw new QueryInputError('include_open', 'true or false');
    if (!this.live) {
      return { ...STORED, info: { available: false, as_of_us: null, open_records: 0, pending_records: 0, omitted_records: 0 } };
    }
    const live = this.live.snapshot({ ...range, overlap: query.kind === 'flows' });
    const visible = [
      `rid < ${sqlInteger(live.ridLimit)}`,
      ...live.hiddenRids.map(([from, to]) => `NOT (rid >= ${sqlInteger(from)} AND rid < ${sqlInteger(to)})`),
    ].join(' AND ');
    return {
      raw: `(SELECT * FROM flows WHERE ${visible} UNION ALL SELECT * FROM ${LIVE_TABLE})`,
      live,
      info: {
        available: true,
        as_of_us: live.asOfUs,
        open_records: live.openRecords,
        pending_records: live.pendingRecords,
        omitted_records: live.omittedRecords,
      },
    };
  }

  /** The rollup span to use, or null to read raw rows only. */
  private rollupSpan(range: Range, dimensions: readonly Dimension[], query: Query, source: Source, intervalMs?: number): RollupSpan | null {
    if (this.options.rollups === 'off') return null;
    if (!dimensions.every(rollupCoversDimension) || !(query.filters ?? []).every(rollupCoversFilter)) return null;
    if (intervalMs !== undefined && intervalMs % 60_000 !== 0) return null;
    const aUs = Math.ceil(range.fromUs / MINUTE_US) * MINUTE_US;
    let bUs = Math.floor(range.toUs / MINUTE_US) * MINUTE_US;
    if (bUs - aUs < Math.max(MINUTE_US, this.options.rollupMinRangeMs * 1000)) return null;
    // A live query reads the rollup only for minutes no later commit can add to.
    if (source.live) bUs = Math.min(bUs, Math.floor(source.live.settledBeforeUs / MINUTE_US) * MINUTE_US);
    return bUs - aUs >= MINUTE_US ? { aUs, bUs } : null;
  }

  private plan(range: Range, dimensions: readonly Dimension[], query: Query, source: Source, intervalMs?: number): RollupSpan | null {
    const span = this.rollupSpan(range, dimensions, query, source, intervalMs);
    if (span) this.plans.rollup++;
    else this.plans.raw++;
    return span;
  }

  /**
   * SQL of the facts relation: the dimensions plus records, the measures (metrics.ts),
   * t_us (attribution time), first_us, last_us. `watermark` is the parameter holding the
   * rollup watermark (filled in by runFacts).
   */
  private facts(dimensions: readonly Dimension[], query: Query, range: Range, span: RollupSpan | null, params: Params, source: Source) {
    const filter = compileFilters(query.filters, params);
    const dims = dimensions.map((d) => `${dimensionExpression(d)} AS "${d}"`);
    const rawColumns = [...dims, '1 AS records', RAW_MEASURES, 'start_us AS t_us', 'start_us AS first_us', 'end_us AS last_us'].join(', ');
    const time = (us: number) => `CAST(${params.add(us)} AS BIGINT)`;
    const from = time(range.fromUs);
    const to = time(range.toUs);
    const raw = source.raw;
    if (!span) {
      return { sql: `SELECT ${rawColumns} FROM ${raw} WHERE start_us >= ${from} AND start_us < ${to} AND ${filter}`, watermark: null };
    }
    const rollupColumns = [...dims, 'records', ROLLUP_MEASURES, 'minute_us AS t_us', 'min_start_us AS first_us', 'max_end_us AS last_us'].join(', ');
    const a = time(span.aUs);
    const b = time(span.bUs);
    const watermark = params.add(0);
    const sql = [
      `SELECT ${rollupColumns} FROM flows_1m WHERE minute_us >= ${a} AND minute_us < ${b} AND ${filter}`,
      `SELECT ${rawColumns} FROM ${raw} WHERE start_us >= ${from} AND start_us < ${a} AND ${filter}`,
      `SELECT ${rawColumns} FROM ${raw} WHERE start_us >= ${b} AND start_us < ${to} AND ${filter}`,
      `SELECT ${rawColumns} FROM flows WHERE rid >= CAST(${watermark} AS UBIGINT) AND start_us >= ${a} AND start_us < ${b} AND ${filter}`,
    ].join(' UNION ALL ');
    return { sql, watermark };
  }

  /** Runs SQL built over facts; with a rollup span, reads the watermark in the same transaction (one snapshot). */
  private async runFacts(connection: DuckDBConnection, sql: string, params: Params, watermark: string | null): Promise<DuckDBValue[][]> {
    if (watermark === null) return (await connection.runAndReadAll(sql, params.values)).getRows();
    await connection.run('BEGIN TRANSACTION');
    try {
      const state = await connection.runAndReadAll('SELECT rid FROM rollup_state');
      params.values[Number(watermark.slice(1)) - 1] = Number(state.getRows()[0][0]);
      const rows = (await connection.runAndReadAll(sql, params.values)).getRows();
      await connection.run('COMMIT');
      return rows;
    } catch (error) {
      await connection.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  private flows(query: FlowsQuery, range: Range, budget: number, source: Source) {
    const order = query.order ?? 'newest';
    if (order !== 'newest' && order !== 'oldest') throw new QueryInputError('order', 'newest or oldest');
    const limit = checkInteger(query.limit, 'limit', 1000, 1, 10_000);
    if (limit > budget) throw new RowBudgetError(limit, budget);
    const params = new Params();
    const newest = order === 'newest';
    // The scan window: a bound on start_us, widened until the page is full (see below).
    const window = params.add(0);
    const conditions = [
      `start_us < CAST(${params.add(range.toUs)} AS BIGINT)`,
      `end_us >= CAST(${params.add(range.fromUs)} AS BIGINT)`,
      `start_us ${newest ? '>=' : '<'} CAST(${window} AS BIGINT)`,
      compileFilters(query.filters, params),
    ];
    // Where the walk starts: the range edge, or the cursor's record.
    let edgeUs = newest ? range.toUs : range.fromUs;
    const fingerprint = queryFingerprint(order, query.filters, query.include_open === true);
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor, order, fingerprint);
    if (cursor) {
      const { key } = cursor;
      edgeUs = key.startUs;
      const [cmp, cmpOrEq] = order === 'newest' ? ['<', '<='] : ['>', '>='];
      const s = `CAST(${params.add(key.startUs)} AS BIGINT)`;
      const f = `CAST(${params.add(key.flowId)} AS VARCHAR)`;
      const q = `CAST(${params.add(key.seq)} AS BIGINT)`;
      const r = `CAST(${params.add(key.rid)} AS UBIGINT)`;
      // The first conjunct is implied by the second; it is there so DuckDB can prune row groups by start_us.
      conditions.push(`start_us ${cmpOrEq} ${s}`);
      conditions.push(
        `(start_us ${cmp} ${s} OR (start_us = ${s} AND (flow_id ${cmp} ${f} OR (flow_id = ${f} AND (seq ${cmp} ${q} OR (seq = ${q} AND rid ${cmp} ${r}))))))`,
      );
    }
    const direction = order === 'newest' ? 'DESC' : 'ASC';
    const sql =
      `SELECT rid, ${RECORD_SELECT} FROM ${source.raw} WHERE ${conditions.join(' AND ')}` +
      ` ORDER BY start_us ${direction}, flow_id ${direction}, seq ${direction}, rid ${direction} LIMIT ${params.add(limit + 1)}`;
    const windowIndex = Number(window.slice(1)) - 1;
    /**
     * DuckDB sorts everything a query selects before LIMIT applies, so a newest-first page of
     * a long range would read the whole range. Instead read a window next to the starting
     * edge (start_us >= edge - w for newest, start_us < edge + w for oldest; row groups
     * outside it are skipped by their min/max) and widen it 4x until it yields a full page
     * or covers the range. Records outside a window sort after every record inside it, so
     * the page is exact. The last step has no window (for newest first it must reach
     * records that started before `from` and still overlap the range).
     */
    const fetchPage = async (connection: DuckDBConnection) => {
      for (let widthUs = FLOWS_FIRST_WINDOW_US; ; widthUs *= 4) {
        const bound = newest ? edgeUs - widthUs : edgeUs + widthUs;
        const last = newest ? bound <= range.fromUs : bound >= range.toUs;
        params.values[windowIndex] = last ? (newest ? -MAX_EPOCH_MS * 1000 : MAX_EPOCH_MS * 1000) : bound;
        const rows = (await connection.runAndReadAll(sql, params.values)).getRows();
        if (last || rows.length > limit) return rows;
      }
    };
    return async (connection: DuckDBConnection): Promise<FlowsResult> => {
      // Read on the query's own connection: the store may have replaced its database since the cursor was made.
      const databaseId = await readDatabaseId(connection);
      if (cursor) checkCursorDatabase(cursor.databaseId, databaseId);
      const rows = await fetchPage(connection);
      const page = rows.slice(0, limit);
      const records = page.map((row) => {
        const record: Record<string, unknown> = {};
        for (let i = 0; i < RECORD_FIELDS.length; i++) {
          const v = row[i + 1];
          record[RECORD_FIELDS[i]] = typeof v === 'bigint' ? Number(v) : v;
        }
        return record as unknown as FlowRecord;
      });
      let nextCursor: string | null = null;
      if (rows.length > limit) {
        const last = records[records.length - 1];
        const key = { order, startUs: last.start_us, flowId: last.flow_id, seq: last.seq, rid: num(page[page.length - 1][0]) };
        nextCursor = encodeCursor(key, { databaseId, query: fingerprint });
      }
      return { kind: 'flows', records, next_cursor: nextCursor };
    };
  }

  private top(query: TopQuery, range: Range, budget: number, source: Source) {
    const groupBy = checkDimensions(query.group_by, 'group_by', 1, MAX_GROUP_BY + CONNECTION_DIMENSIONS.length);
    const userDimensions = groupBy.filter((d) => !(CONNECTION_DIMENSIONS as readonly string[]).includes(d));
    if (userDimensions.length > MAX_GROUP_BY) {
      throw new QueryInputError('group_by', `at most ${MAX_GROUP_BY} dimensions besides ${CONNECTION_DIMENSIONS.join(', ')}`);
    }
    const metric = checkMetric(query.metric);
    const limit = checkInteger(query.limit, 'limit', 10, 0, 100_000);
    const params = new Params();
    const facts = this.facts(groupBy, query, range, this.plan(range, groupBy, query, source), params, source);
    const dims = groupBy.map((d) => `"${d}"`);
    const fetch = limit === 0 ? budget + 1 : Math.min(limit, budget + 1);
    // parts: 0 = the ranked groups kept, 1 = everything beyond `limit` (other), 2 = all groups;
    // other and total aggregate over groups (sums add, maxima max), never by subtraction
    const nulls = dims.map(() => 'NULL').join(', ');
    const otherFrom = params.add(limit === 0 ? Number.MAX_SAFE_INTEGER : limit);
    const sql =
      `WITH facts AS (${facts.sql}), g AS (SELECT ${dims.join(', ')}, ${GROUP_TOTALS} FROM facts GROUP BY ALL),` +
      ` r AS (SELECT *, row_number() OVER (ORDER BY ${groupMetricSql(metric)} DESC, ${dims.map((d) => `${d} ASC NULLS LAST`).join(', ')}) AS rn FROM g)` +
      ` SELECT 0 AS part, rn, ${dims.join(', ')}, ${GROUP_TOTAL_COLUMNS} FROM r WHERE rn <= ${params.add(fetch)}` +
      ` UNION ALL SELECT 1, count(*), ${nulls}, ${totalsOver()} FROM r WHERE rn > ${otherFrom}` +
      ` UNION ALL SELECT 2, count(*), ${nulls}, ${totalsOver()} FROM r`;
    return async (connection: DuckDBConnection): Promise<TopResult> => {
      const rows = await this.runFacts(connection, sql, params, facts.watermark);
      const n = groupBy.length;
      const part = (p: number) => rows.filter((row) => num(row[0]) === p);
      const ranked = part(0).sort((x, y) => num(x[1]) - num(y[1]));
      const [otherRow] = part(1);
      const [allRow] = part(2);
      const groups = allRow ? num(allRow[1]) : 0;
      const needed = limit === 0 ? groups : Math.min(limit, groups);
      if (needed > budget) throw new RowBudgetError(needed, budget);
      const totalsOf = (row: readonly DuckDBValue[] | undefined) => (row ? totalsFrom(row.slice(2 + n, 2 + n + TOTAL_WIDTH)) : emptyTotals());
      const out = ranked.slice(0, needed).map((row) => {
        const key: GroupKey = {};
        groupBy.forEach((d, i) => (key[d] = keyValue(row[2 + i])));
        const totals = totalsOf(row);
        return { key, value: metricValue(totals, metric), totals };
      });
      const otherTotals = totalsOf(otherRow);
      return {
        kind: 'top', group_by: groupBy, metric, rows: out,
        other: { groups: otherRow ? num(otherRow[1]) : 0, value: metricValue(otherTotals, metric), totals: otherTotals },
        total: totalsOf(allRow),
      };
    };
  }

  private timeseries(query: TimeseriesQuery, range: Range, budget: number, source: Source) {
    const metric = checkMetric(query.metric);
    const intervalMs = query.interval_ms;
    if (typeof intervalMs !== 'number' || !Number.isSafeInteger(intervalMs) || intervalMs < 1000) {
      throw new QueryInputError('interval_ms', 'an integer of at least 1000');
    }
    const splitBy = query.split_by === undefined ? [] : checkDimensions(query.split_by, 'split_by', 0, MAX_SPLIT_BY);
    const splitLimit = checkInteger(query.split_limit, 'split_limit', 10, 0, 100_000);
    const firstBucket = Math.floor(query.from / intervalMs);
    const bucketCount = Math.ceil(query.to / intervalMs) - firstBucket;
    if (bucketCount > this.options.maxBuckets) {
      throw new QueryInputError('interval_ms', `${bucketCount} buckets exceed the maximum of ${this.options.maxBuckets}; use a wider interval`);
    }
    const times = Array.from({ length: bucketCount }, (_, i) => (firstBucket + i) * intervalMs);
    const params = new Params();
    const facts = this.facts(splitBy, query, range, this.plan(range, splitBy, query, source, intervalMs), params, source);
    const bucket = `(t_us // CAST(${params.add(intervalMs * 1000)} AS BIGINT))`;
    // per bucket and series: the value (a sum, a maximum, or for averages the sum of the
    // measurements) and the number of measurements (averages only)
    const m = bucketMetric(metric);
    const agg = m.aggregate;
    const count = m.count === null ? '0' : `sum(${m.count})`;
    let sql: string;
    if (splitBy.length === 0) {
      sql = `WITH facts AS (${facts.sql}) SELECT ${bucket} AS bi, 1 AS sid, CAST(${agg}(${m.value}) AS DOUBLE), CAST(${count} AS DOUBLE) FROM facts GROUP BY 1`;
    } else {
      const s = splitBy.map((d) => `"${d}"`);
      const limit = params.add(splitLimit);
      // series rank by the metric over the whole range
      const total = m.count === null ? `${agg}(v)` : 'CAST(sum(v) AS DOUBLE) / nullif(sum(n), 0)';
      sql =
        `WITH facts AS (${facts.sql}),` +
        ` b AS (SELECT ${bucket} AS bi, ${s.join(', ')}, ${agg}(${m.value}) AS v, ${count} AS n FROM facts GROUP BY ALL),` +
        ` k AS (SELECT ${s.join(', ')}, coalesce(${total}, 0) AS tot FROM b GROUP BY ALL),` +
        ` r AS (SELECT ${s.join(', ')}, row_number() OVER (ORDER BY tot DESC, ${s.map((d) => `${d} ASC NULLS LAST`).join(', ')}) AS rn FROM k)` +
        ` SELECT b.bi, CASE WHEN ${limit} = 0 OR r.rn <= ${limit} THEN r.rn ELSE 0 END AS sid, CAST(${agg}(b.v) AS DOUBLE),` +
        ` CAST(sum(b.n) AS DOUBLE), ${s.map((d) => `any_value(r.${d})`).join(', ')}` +
        ` FROM b JOIN r ON ${s.map((d) => `b.${d} IS NOT DISTINCT FROM r.${d}`).join(' AND ')} GROUP BY 1, 2`;
    }
    const averaged = METRIC_AGGREGATION[metric] === 'avg';
    return async (connection: DuckDBConnection): Promise<TimeseriesResult> => {
      const rows = await this.runFacts(connection, sql, params, facts.watermark);
      type Built = { key: GroupKey; other: boolean; values: number[]; counts: number[] };
      const bySid = new Map<number, Built>();
      for (const row of rows) {
        const sid = num(row[1]);
        let series = bySid.get(sid);
        if (!series) {
          const key: GroupKey = {};
          if (sid !== 0) splitBy.forEach((d, i) => (key[d] = keyValue(row[4 + i])));
          series = { key, other: sid === 0 && splitBy.length > 0, values: [], counts: [] };
          bySid.set(sid, series);
          if (bySid.size * bucketCount > budget) throw new RowBudgetError(bySid.size * bucketCount, budget);
        }
        const i = num(row[0]) - firstBucket;
        const n = num(row[3]);
        series.values[i] = averaged ? (n > 0 ? num(row[2]) / n : 0) : num(row[2]);
        series.counts[i] = n;
      }
      if (splitBy.length === 0 && bySid.size === 0) bySid.set(1, { key: {}, other: false, values: [], counts: [] });
      const ordered = [...bySid.entries()].sort(([a], [b]) => (a === 0 ? 1 : b === 0 ? -1 : a - b)).map(([, built]) => built);
      const series = ordered.map((built) => ({
        key: built.key,
        other: built.other,
        values: times.map((_, i) => built.values[i] ?? 0),
        ...(averaged ? { counts: times.map((_, i) => built.counts[i] ?? 0) } : {}),
      }));
      return { kind: 'timeseries', interval_ms: intervalMs, metric, split_by: splitBy, times, series };
    };
  }

  private summary(query: SummaryQuery, range: Range, source: Source) {
    const dimensions: Dimension[] = ['direction', 'protocol', 'src_ip', 'dst_ip'];
    const params = new Params();
    const facts = this.facts(dimensions, query, range, this.plan(range, dimensions, query, source), params, source);
    const sql =
      `WITH facts AS (${facts.sql}) SELECT GROUPING(direction), GROUPING(protocol), direction, protocol, ${FACT_TOTALS},` +
      ` CAST(sum(records) AS DOUBLE), min(first_us), max(last_us), count(DISTINCT src_ip), count(DISTINCT dst_ip)` +
      ` FROM facts GROUP BY GROUPING SETS ((), (direction), (protocol))`;
    return async (connection: DuckDBConnection): Promise<SummaryResult> => {
      const rows = await this.runFacts(connection, sql, params, facts.watermark);
      const result: SummaryResult = {
        kind: 'summary', total: emptyTotals(), records: 0, first_us: null, last_us: null,
        distinct_src_ips: 0, distinct_dst_ips: 0, by_direction: {}, by_protocol: {},
      };
      const at = 4 + TOTAL_WIDTH;
      for (const row of rows) {
        const totals = totalsFrom(row.slice(4, at));
        const [groupedDirection, groupedProtocol] = [num(row[0]), num(row[1])];
        if (groupedDirection && groupedProtocol) {
          result.total = totals;
          result.records = num(row[at]);
          result.first_us = row[at + 1] === null ? null : num(row[at + 1]);
          result.last_us = row[at + 2] === null ? null : num(row[at + 2]);
          result.distinct_src_ips = num(row[at + 3]);
          result.distinct_dst_ips = num(row[at + 4]);
        } else if (!groupedDirection) {
          if (row[2] !== null) result.by_direction[String(row[2])] = totals;
        } else if (row[3] !== null) {
          result.by_protocol[String(row[3])] = totals;
        }
      }
      return result;
    };
  }

  private values(query: ValuesQuery, range: Range, budget: number, source: Source) {
    const [dimension] = checkDimensions([query.dimension], 'dimension', 1, 1);
    const limit = checkInteger(query.limit, 'limit', 100, 1, 10_000);
    const params = new Params();
    const facts = this.facts([dimension], query, range, this.plan(range, [dimension], query, source), params, source);
    const d = `"${dimension}"`;
    const conditions = [`${d} IS NOT NULL`, `CAST(${d} AS VARCHAR) <> ''`];
    if (query.prefix !== undefined && query.prefix !== '') {
      if (typeof query.prefix !== 'string') throw new QueryInputError('prefix', 'text');
      conditions.push(`starts_with(lower(CAST(${d} AS VARCHAR)), ${params.add(query.prefix.toLowerCase())})`);
    }
    const fetch = Math.min(limit, budget + 1);
    const sql =
      `WITH facts AS (${facts.sql}) SELECT ${d}, CAST(sum(records) AS DOUBLE) AS n FROM facts WHERE ${conditions.join(' AND ')}` +
      ` GROUP BY 1 ORDER BY n DESC, 1 ASC LIMIT ${params.add(fetch)}`;
    return async (connection: DuckDBConnection): Promise<ValuesResult> => {
      const rows = await this.runFacts(connection, sql, params, facts.watermark);
      if (rows.length > budget) throw new RowBudgetError(rows.length, budget);
      return {
        kind: 'values',
        dimension,
        values: rows.map((row) => ({ value: keyValue(row[0]) as string | number, count: num(row[1]) })),
      };
    };
  }
}
