/**
 * The DuckDB schema of the flow store: raw records (`flows`) and per-minute rollups
 * (`flows_1m`). Column names are the FlowRecord field names so no layer renames anything.
 *
 * Choices, and why:
 * - times are BIGINT epoch microseconds, exactly as in the record; rows arrive roughly in
 *   time order, so DuckDB's per-row-group min/max (zonemaps) prune time-range scans;
 * - low-cardinality strings from closed vocabularies are ENUMs (1 byte each, fast group-by);
 *   open ones (node, names, domain) are VARCHAR, which DuckDB dictionary-compresses on disk;
 * - `src_ip_hi`/`src_ip_lo` (and dst_) hold the 128-bit address as two UBIGINTs (IPv4 mapped
 *   into ::ffff:0:0/96), so CIDR filters are range predicates; two UBIGINTs rather than one
 *   UHUGEINT because DuckDB bit-packs 64-bit integers but stores 128-bit ones uncompressed;
 * - `rid` is a store-assigned insertion sequence: the final tie-breaker of flows paging, and
 *   the handle the rollup maintenance uses to find the rows of the batch just appended;
 * - `minute_us` is start_us floored to the minute: the rollup bucket of the record.
 */
import { CONN_STATES, DIRECTIONS, ENDPOINT_TYPES, STORED_END_REASONS, STORED_RECORD_KINDS } from '../model/flow';

/** Version 2: ICMP echo identifier and latency columns (see MIGRATIONS). */
export const SCHEMA_VERSION = 2;

/** Protocol names the flow table emits: the named four, else `ip-<number>`. */
export const PROTOCOL_NAMES: readonly string[] = [
  'tcp', 'udp', 'icmp', 'icmpv6',
  ...Array.from({ length: 256 }, (_, n) => `ip-${n}`),
];

/** ENUM types; their values come from the contract constants, never from input. */
export const ENUM_TYPES: Record<string, readonly string[]> = {
  fm_record_kind: STORED_RECORD_KINDS,
  fm_end_reason: STORED_END_REASONS,
  fm_direction: DIRECTIONS,
  fm_endpoint_type: ENDPOINT_TYPES,
  fm_conn_state: CONN_STATES,
  fm_protocol: PROTOCOL_NAMES,
};

/** Raw table columns in table order (the appender fills them in this order). */
export const FLOW_COLUMNS: readonly [name: string, type: string][] = [
  ['rid', 'UBIGINT'],
  ['flow_id', 'VARCHAR'],
  ['seq', 'UINTEGER'],
  ['record_kind', 'fm_record_kind'],
  ['end_reason', 'fm_end_reason'],
  ['node', 'VARCHAR'],
  ['interface', 'VARCHAR'],
  ['flow_start_us', 'BIGINT'],
  ['start_us', 'BIGINT'],
  ['end_us', 'BIGINT'],
  ['minute_us', 'BIGINT'],
  ['direction', 'fm_direction'],
  ['ip_version', 'UTINYINT'],
  ['protocol', 'fm_protocol'],
  ['protocol_number', 'UTINYINT'],
  ['src_ip', 'VARCHAR'],
  ['src_ip_hi', 'UBIGINT'],
  ['src_ip_lo', 'UBIGINT'],
  ['src_port', 'USMALLINT'],
  ['dst_ip', 'VARCHAR'],
  ['dst_ip_hi', 'UBIGINT'],
  ['dst_ip_lo', 'UBIGINT'],
  ['dst_port', 'USMALLINT'],
  ['src_name', 'VARCHAR'],
  ['src_type', 'fm_endpoint_type'],
  ['dst_name', 'VARCHAR'],
  ['dst_type', 'fm_endpoint_type'],
  ['dst_domain', 'VARCHAR'],
  ['icmp_type', 'UTINYINT'],
  ['icmp_code', 'UTINYINT'],
  ['packets_tx', 'BIGINT'],
  ['packets_rx', 'BIGINT'],
  ['bytes_tx', 'BIGINT'],
  ['bytes_rx', 'BIGINT'],
  ['tcp_flags_src', 'UTINYINT'],
  ['tcp_flags_dst', 'UTINYINT'],
  ['conn_state', 'fm_conn_state'],
  ['community_id', 'VARCHAR'],
  // schema version 2 (appended: a migrated table has the same column order as a new one)
  ['icmp_id', 'USMALLINT'],
  ['tcp_synack_us', 'BIGINT'],
  ['tcp_ack_us', 'BIGINT'],
  ['dns_rtt_us', 'BIGINT'],
];
const V2_FLOW_COLUMNS = ['icmp_id', 'tcp_synack_us', 'tcp_ack_us', 'dns_rtt_us'];

/**
 * Rollup measures besides the counters: what latency averages (sums and counts) and maxima
 * are computed from. Added in schema version 2; counts and sums default to 0 so rows rolled
 * up before hold no measurement.
 */
const LATENCY_ROLLUP_MEASURES: readonly [name: string, type: string, aggregate: string, merge: string][] = [
  ['handshakes', 'BIGINT DEFAULT 0', 'count(tcp_synack_us)', 'sum(handshakes)::BIGINT'],
  ['synack_us_sum', 'BIGINT DEFAULT 0', 'coalesce(sum(tcp_synack_us), 0)', 'sum(synack_us_sum)::BIGINT'],
  ['ack_us_sum', 'BIGINT DEFAULT 0', 'coalesce(sum(tcp_ack_us), 0)', 'sum(ack_us_sum)::BIGINT'],
  ['handshake_us_max', 'BIGINT', 'max(tcp_synack_us + tcp_ack_us)', 'max(handshake_us_max)'],
  ['dns_responses', 'BIGINT DEFAULT 0', 'count(dns_rtt_us)', 'sum(dns_responses)::BIGINT'],
  ['dns_rtt_us_sum', 'BIGINT DEFAULT 0', 'coalesce(sum(dns_rtt_us), 0)', 'sum(dns_rtt_us_sum)::BIGINT'],
  ['dns_rtt_us_max', 'BIGINT', 'max(dns_rtt_us)', 'max(dns_rtt_us_max)'],
];

/**
 * Dimensions kept in the per-minute rollup: what dashboards group and filter on (who talks
 * to whom, on which service port, seen by which node, how it ended). Left out on purpose:
 * src_port (ephemeral: would make the rollup as large as the raw table), flow_id,
 * community_id, record_kind, end_reason. The numeric addresses ride along for CIDR filters.
 */
export const ROLLUP_DIMENSIONS = [
  'node', 'interface', 'direction', 'protocol', 'ip_version',
  'src_ip', 'dst_ip', 'dst_port', 'src_name', 'src_type', 'dst_name', 'dst_type', 'dst_domain', 'conn_state',
] as const;

const ROLLUP_KEY_COLUMNS = ['minute_us', ...ROLLUP_DIMENSIONS, 'src_ip_hi', 'src_ip_lo', 'dst_ip_hi', 'dst_ip_lo'];

const typeOf = (name: string): string => {
  const column = FLOW_COLUMNS.find(([n]) => n === name);
  if (!column) throw new Error(`no column ${name}`);
  return column[1];
};

/** Statements creating the tables when absent (run after typeDdl). */
export function tableDdl(): string[] {
  const flows = `CREATE TABLE IF NOT EXISTS flows (${FLOW_COLUMNS.map(([n, t]) => `"${n}" ${t}`).join(', ')})`;
  const rollup =
    `CREATE TABLE IF NOT EXISTS flows_1m (` +
    ROLLUP_KEY_COLUMNS.map((n) => `"${n}" ${typeOf(n)}`).join(', ') +
    `, records BIGINT, flows BIGINT, packets_tx BIGINT, packets_rx BIGINT, bytes_tx BIGINT, bytes_rx BIGINT,` +
    ` min_start_us BIGINT, max_end_us BIGINT, ${LATENCY_ROLLUP_MEASURES.map(([n, t]) => `${n} ${t}`).join(', ')})`;
  return [
    flows,
    rollup,
    'CREATE TABLE IF NOT EXISTS flowmesh_meta (key VARCHAR, value VARCHAR)',
    // Rows of `flows` with rid below this are in flows_1m; the query engine reads the rest raw.
    'CREATE TABLE IF NOT EXISTS rollup_state (rid UBIGINT)',
    'INSERT INTO rollup_state SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM rollup_state)',
  ];
}

/** CREATE TYPE statements for the ENUM types not yet in the database. */
export function typeDdl(missing: readonly string[]): string[] {
  return missing.map((name) => `CREATE TYPE ${name} AS ENUM (${ENUM_TYPES[name].map((v) => `'${v}'`).join(', ')})`);
}

/**
 * Aggregates the raw rows with rid in [$1, $2) into rollup rows. Several rollup rows may
 * exist per key and minute (one per roll-up pass, until compaction merges them); readers SUM.
 */
export const ROLLUP_INSERT_SQL =
  `INSERT INTO flows_1m SELECT ${ROLLUP_KEY_COLUMNS.map((c) => `"${c}"`).join(', ')},` +
  ` count(*), count(*) FILTER (WHERE seq = 0), sum(packets_tx), sum(packets_rx), sum(bytes_tx), sum(bytes_rx),` +
  ` min(start_us), max(end_us), ${LATENCY_ROLLUP_MEASURES.map(([, , aggregate]) => aggregate).join(', ')}` +
  ` FROM flows WHERE rid >= $1::UBIGINT AND rid < $2::UBIGINT GROUP BY ALL`;

/** Re-aggregates the rollup rows of minutes [$1, $2) into one row per key (run inside a transaction). */
export const ROLLUP_COMPACT_SQL = [
  `CREATE OR REPLACE TEMP TABLE fm_compact AS SELECT ${ROLLUP_KEY_COLUMNS.map((c) => `"${c}"`).join(', ')},` +
    ` sum(records)::BIGINT AS records, sum(flows)::BIGINT AS flows, sum(packets_tx)::BIGINT AS packets_tx,` +
    ` sum(packets_rx)::BIGINT AS packets_rx, sum(bytes_tx)::BIGINT AS bytes_tx, sum(bytes_rx)::BIGINT AS bytes_rx,` +
    ` min(min_start_us) AS min_start_us, max(max_end_us) AS max_end_us,` +
    ` ${LATENCY_ROLLUP_MEASURES.map(([n, , , merge]) => `${merge} AS ${n}`).join(', ')}` +
    ` FROM flows_1m WHERE minute_us >= $1::BIGINT AND minute_us < $2::BIGINT GROUP BY ALL`,
  'DELETE FROM flows_1m WHERE minute_us >= $1::BIGINT AND minute_us < $2::BIGINT',
  'INSERT INTO flows_1m SELECT * FROM fm_compact',
];

/**
 * Schema upgrades, in order: the statements bringing a database of version `to - 1` to
 * `to`. A step only adds (columns, defaults), so it is cheap on a large file and old rows
 * read as "not measured".
 */
export const MIGRATIONS: readonly { to: number; statements: readonly string[] }[] = [
  {
    to: 2,
    statements: [
      ...V2_FLOW_COLUMNS.map((name) => `ALTER TABLE flows ADD COLUMN "${name}" ${typeOf(name)}`),
      ...LATENCY_ROLLUP_MEASURES.map(([name, type]) => `ALTER TABLE flows_1m ADD COLUMN ${name} ${type}`),
    ],
  },
];
