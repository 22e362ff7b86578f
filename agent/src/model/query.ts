/**
 * The query model: the one definition of what a client may ask an agent (POST /api/v1/query)
 * and what it answers. Structured only: no SQL travels over the network. The plugin's Go
 * types (plugin/pkg/models) mirror these and are tested against the published OpenAPI.
 *
 * Time semantics: `from`/`to` are epoch milliseconds, half-open [from, to).
 *  - `flows` returns records whose period overlaps the range.
 *  - aggregates (`top`, `timeseries`, `summary`, `values`) attribute a record to its start_us,
 *    so every record counts in exactly one bucket and rollups give the same totals as raw rows.
 * Metric `flows` counts connections started (records with seq = 0), which is additive across
 * buckets, groups and agents.
 *
 * Latency metrics are exact to merge across buckets, groups and agents, and only those are
 * offered: averages travel as a sum and a count (Totals; timeseries `counts`), maxima merge
 * by max. Percentiles are not offered: a p95 of several agents cannot be computed from
 * their p95s.
 *
 * include_open: the answer also covers flows still open in the agent's flow table (records
 * with record_kind `open`: their current period so far), as of one instant, consistent with
 * the store (no record is counted both as open and as stored). See agent/src/live.
 */
import { Type, type Static, type TLiteral, type TUnion } from '@sinclair/typebox';
import { TCP_FLAG_NAMES } from './flow';

export const API_VERSION = 1;

/** Dimensions a query can filter, group or split by (record field names). */
export const DIMENSIONS = [
  'node', 'interface', 'direction', 'protocol', 'ip_version',
  'src_ip', 'dst_ip', 'src_port', 'dst_port',
  'src_name', 'dst_name', 'src_type', 'dst_type', 'dst_domain',
  'conn_state', 'community_id', 'flow_id', 'record_kind', 'end_reason',
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** Either-side pseudo fields for filters: `ip` matches src_ip or dst_ip, likewise port, name, type. */
export const EITHER_SIDE_FIELDS = ['ip', 'port', 'name', 'type'] as const;
export const NUMERIC_FIELDS = [
  'bytes', 'bytes_tx', 'bytes_rx', 'packets', 'packets_tx', 'packets_rx', 'duration_ms', 'icmp_type', 'icmp_code',
  'icmp_id', 'handshake_us', 'tcp_synack_us', 'tcp_ack_us', 'dns_rtt_us',
] as const;
export const FLAG_FIELDS = ['tcp_flags_src', 'tcp_flags_dst', 'tcp_flags'] as const;

/** Most dimensions a top query groups by, not counting CONNECTION_DIMENSIONS. */
export const MAX_GROUP_BY = 4;
/**
 * Dimensions that identify one report of a connection. Connection dedupe in the plugin groups
 * by these on top of the user's dimensions and keeps one reporter per connection, so a top
 * query may carry them beyond MAX_GROUP_BY.
 */
export const CONNECTION_DIMENSIONS = ['community_id', 'direction'] as const;

/** How a metric combines over records, buckets, groups and agents. */
export type MetricAggregation = 'sum' | 'avg' | 'max';

/**
 * Metrics and how each aggregates. handshakes / dns_responses count the measurements taken;
 * *_avg are means over measurements (a group without any is 0 with count 0), *_max maxima.
 */
export const METRIC_AGGREGATION = {
  bytes: 'sum', bytes_tx: 'sum', bytes_rx: 'sum', packets: 'sum', packets_tx: 'sum', packets_rx: 'sum', flows: 'sum',
  handshakes: 'sum', handshake_us_avg: 'avg', handshake_us_max: 'max', synack_us_avg: 'avg', ack_us_avg: 'avg',
  dns_responses: 'sum', dns_rtt_us_avg: 'avg', dns_rtt_us_max: 'max',
} as const satisfies Record<string, MetricAggregation>;
export type Metric = keyof typeof METRIC_AGGREGATION;
export const METRICS = Object.keys(METRIC_AGGREGATION) as Metric[];

const lit = <T extends string>(values: readonly T[], options: object = {}): TUnion<TLiteral<T>[]> =>
  Type.Union(values.map((v) => Type.Literal(v)), options);

const Scalar = Type.Union([Type.String({ maxLength: 1024 }), Type.Number()]);

export const FilterSchema = Type.Union(
  [
    Type.Object(
      {
        field: lit([...DIMENSIONS, ...EITHER_SIDE_FIELDS]),
        op: lit(['eq', 'neq']),
        value: Scalar,
      },
      { additionalProperties: false, description: 'Equality' },
    ),
    Type.Object(
      {
        field: lit([...DIMENSIONS, ...EITHER_SIDE_FIELDS]),
        op: lit(['in', 'nin']),
        values: Type.Array(Scalar, { maxItems: 10000 }),
      },
      { additionalProperties: false, description: 'Membership' },
    ),
    Type.Object(
      {
        field: lit(['src_ip', 'dst_ip', 'ip']),
        op: lit(['cidr', 'not_cidr']),
        value: Type.String({ description: 'Prefix, e.g. 10.0.0.0/8 or fd00::/8; a bare address is /32 or /128' }),
      },
      { additionalProperties: false, description: 'Address within a prefix' },
    ),
    Type.Object(
      {
        field: lit(['src_port', 'dst_port', 'port']),
        op: Type.Literal('range'),
        min: Type.Integer({ minimum: 0, maximum: 65535 }),
        max: Type.Integer({ minimum: 0, maximum: 65535 }),
      },
      { additionalProperties: false, description: 'Port range, inclusive' },
    ),
    Type.Object(
      {
        field: lit(NUMERIC_FIELDS),
        op: lit(['gt', 'gte', 'lt', 'lte', 'eq', 'neq']),
        value: Type.Number(),
      },
      { additionalProperties: false, description: 'Numeric comparison (bytes = tx + rx, per record)' },
    ),
    Type.Object(
      {
        field: lit(FLAG_FIELDS),
        op: lit(['has_all', 'has_any', 'has_none']),
        flags: Type.Array(lit(TCP_FLAG_NAMES), { minItems: 1 }),
      },
      { additionalProperties: false, description: 'TCP flag test; tcp_flags = union of both sides' },
    ),
    Type.Object(
      {
        field: Type.Literal('text'),
        op: Type.Literal('contains'),
        value: Type.String({ minLength: 1, maxLength: 256 }),
      },
      { additionalProperties: false, description: 'Case-insensitive substring of names, domain or addresses' },
    ),
  ],
  { $id: 'Filter' },
);
export type Filter = Static<typeof FilterSchema>;

const Common = {
  from: Type.Integer({ description: 'Range start, epoch ms (inclusive)' }),
  to: Type.Integer({ description: 'Range end, epoch ms (exclusive)' }),
  filters: Type.Optional(Type.Array(FilterSchema, { maxItems: 100, description: 'ANDed together' })),
  include_open: Type.Optional(
    Type.Boolean({
      default: false,
      description: 'Also answer with flows still open in the flow table (record_kind open), consistent with the stored records',
    }),
  ),
};

export const FlowsQuerySchema = Type.Object(
  {
    kind: Type.Literal('flows'),
    ...Common,
    order: Type.Optional(lit(['newest', 'oldest'], { default: 'newest' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000, description: 'Page size' })),
    cursor: Type.Optional(Type.String({ maxLength: 512, description: 'next_cursor of the previous page' })),
  },
  { additionalProperties: false },
);

export const TopQuerySchema = Type.Object(
  {
    kind: Type.Literal('top'),
    ...Common,
    group_by: Type.Array(lit(DIMENSIONS), {
      minItems: 1,
      maxItems: MAX_GROUP_BY + CONNECTION_DIMENSIONS.length,
      description:
        `At most ${MAX_GROUP_BY} dimensions besides community_id and direction, which a federating client adds to ` +
        'count a connection reported by several agents once (so up to 6 in all)',
    }),
    metric: Type.Optional(lit(METRICS, { default: 'bytes' })),
    limit: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 100000, default: 10, description: '0 = every group (within the row budget)' }),
    ),
  },
  { additionalProperties: false },
);

export const TimeseriesQuerySchema = Type.Object(
  {
    kind: Type.Literal('timeseries'),
    ...Common,
    interval_ms: Type.Integer({ minimum: 1000, description: 'Bucket width' }),
    metric: Type.Optional(lit(METRICS, { default: 'bytes' })),
    split_by: Type.Optional(Type.Array(lit(DIMENSIONS), { maxItems: 3, description: 'One series per value combination' })),
    split_limit: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 100000, default: 10, description: 'Top series kept by total; the rest sum into other. 0 = all' }),
    ),
  },
  { additionalProperties: false },
);

export const SummaryQuerySchema = Type.Object({ kind: Type.Literal('summary'), ...Common }, { additionalProperties: false });

export const ValuesQuerySchema = Type.Object(
  {
    kind: Type.Literal('values'),
    ...Common,
    dimension: lit(DIMENSIONS),
    prefix: Type.Optional(Type.String({ maxLength: 256, description: 'Case-insensitive prefix of the value' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100 })),
  },
  { additionalProperties: false },
);

export const QuerySchema = Type.Union(
  [FlowsQuerySchema, TopQuerySchema, TimeseriesQuerySchema, SummaryQuerySchema, ValuesQuerySchema],
  { $id: 'Query' },
);
export type Query = Static<typeof QuerySchema>;
export type FlowsQuery = Static<typeof FlowsQuerySchema>;
export type TopQuery = Static<typeof TopQuerySchema>;
export type TimeseriesQuery = Static<typeof TimeseriesQuerySchema>;
export type SummaryQuery = Static<typeof SummaryQuerySchema>;
export type ValuesQuery = Static<typeof ValuesQuerySchema>;

/**
 * Totals carried by every aggregate row: sums, plus the parts latency metrics are computed
 * from (sums and counts for averages, maxima; 0 when there is no measurement), so that a
 * client merging several answers gets exact averages and maxima.
 */
export const TotalsSchema = Type.Object(
  {
    bytes: Type.Number(), bytes_tx: Type.Number(), bytes_rx: Type.Number(),
    packets: Type.Number(), packets_tx: Type.Number(), packets_rx: Type.Number(),
    flows: Type.Number(),
    handshakes: Type.Number({ description: 'TCP handshakes measured' }),
    synack_us_sum: Type.Number({ description: 'Sum of tcp_synack_us' }),
    ack_us_sum: Type.Number({ description: 'Sum of tcp_ack_us' }),
    handshake_us_max: Type.Number({ description: 'Largest tcp_synack_us + tcp_ack_us' }),
    dns_responses: Type.Number({ description: 'DNS response times measured' }),
    dns_rtt_us_sum: Type.Number(),
    dns_rtt_us_max: Type.Number(),
  },
  { $id: 'Totals', additionalProperties: false },
);
export type Totals = Static<typeof TotalsSchema>;

/** What include_open added to an answer, as of one instant of the agent. */
export const LiveInfoSchema = Type.Object(
  {
    available: Type.Boolean({ description: 'false when the agent has no flow table (serve): stored records only' }),
    as_of_us: Type.Union([Type.Integer(), Type.Null()], { description: 'When the open flows were read, epoch µs' }),
    open_records: Type.Integer({ description: 'Open flows (non-empty current period) in the answer\'s time range' }),
    pending_records: Type.Integer({ description: 'Emitted records not yet committed to the store, read from memory' }),
    omitted_records: Type.Integer({ description: 'Open or pending records left out (live.max_records): the answer undercounts them' }),
  },
  { $id: 'LiveInfo', additionalProperties: false },
);
export type LiveInfo = Static<typeof LiveInfoSchema>;
const Live = { live: Type.Optional(Type.Ref('LiveInfo')) };

const Key = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]));

export const QueryResultSchema = Type.Union(
  [
    Type.Object({
      kind: Type.Literal('flows'),
      records: Type.Array(Type.Ref('FlowRecord')),
      next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page' }),
      ...Live,
    }),
    Type.Object({
      kind: Type.Literal('top'),
      group_by: Type.Array(Type.String()),
      metric: Type.String(),
      rows: Type.Array(Type.Object({ key: Key, value: Type.Number(), totals: Type.Ref('Totals') })),
      other: Type.Object({ groups: Type.Integer(), value: Type.Number(), totals: Type.Ref('Totals') }, {
        description: 'Everything outside the top rows',
      }),
      total: Type.Ref('Totals'),
      ...Live,
    }),
    Type.Object({
      kind: Type.Literal('timeseries'),
      interval_ms: Type.Integer(),
      metric: Type.String(),
      split_by: Type.Array(Type.String()),
      times: Type.Array(Type.Integer(), { description: 'Bucket starts, epoch ms, every bucket of [from, to)' }),
      series: Type.Array(
        Type.Object({
          key: Key,
          other: Type.Boolean({ description: 'true for the series that sums everything beyond split_limit' }),
          values: Type.Array(Type.Number(), { description: 'One value per entry of times (0 when empty)' }),
          counts: Type.Optional(
            Type.Array(Type.Integer(), { description: 'Average metrics only: measurements per bucket (merge weights)' }),
          ),
        }),
      ),
      ...Live,
    }),
    Type.Object({
      kind: Type.Literal('summary'),
      total: Type.Ref('Totals'),
      records: Type.Integer(),
      first_us: Type.Union([Type.Integer(), Type.Null()]),
      last_us: Type.Union([Type.Integer(), Type.Null()]),
      distinct_src_ips: Type.Integer(),
      distinct_dst_ips: Type.Integer(),
      by_direction: Type.Record(Type.String(), Type.Ref('Totals')),
      by_protocol: Type.Record(Type.String(), Type.Ref('Totals')),
      ...Live,
    }),
    Type.Object({
      kind: Type.Literal('values'),
      dimension: Type.String(),
      values: Type.Array(Type.Object({ value: Type.Union([Type.String(), Type.Number()]), count: Type.Integer() })),
      ...Live,
    }),
  ],
  { $id: 'QueryResult' },
);

/** Error body for every 4xx/5xx. `field` names the offending input where there is one. */
export const ApiErrorSchema = Type.Object(
  { error: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) },
  { $id: 'ApiError' },
);
export type ApiError = Static<typeof ApiErrorSchema>;

export type GroupKey = Record<string, string | number | null>;
interface WithLive { live?: LiveInfo }
export interface FlowsResult extends WithLive { kind: 'flows'; records: import('./flow').FlowRecord[]; next_cursor: string | null }
export interface TopResult extends WithLive {
  kind: 'top'; group_by: Dimension[]; metric: Metric;
  rows: { key: GroupKey; value: number; totals: Totals }[];
  other: { groups: number; value: number; totals: Totals };
  total: Totals;
}
export interface TimeseriesResult extends WithLive {
  kind: 'timeseries'; interval_ms: number; metric: Metric; split_by: Dimension[];
  times: number[]; series: { key: GroupKey; other: boolean; values: number[]; counts?: number[] }[];
}
export interface SummaryResult extends WithLive {
  kind: 'summary'; total: Totals; records: number; first_us: number | null; last_us: number | null;
  distinct_src_ips: number; distinct_dst_ips: number;
  by_direction: Record<string, Totals>; by_protocol: Record<string, Totals>;
}
export interface ValuesResult extends WithLive { kind: 'values'; dimension: Dimension; values: { value: string | number; count: number }[] }
export type QueryResult = FlowsResult | TopResult | TimeseriesResult | SummaryResult | ValuesResult;
