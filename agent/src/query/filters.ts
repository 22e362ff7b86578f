/**
 * Filters -> SQL predicates with bound parameters. Identifiers come only from the whitelists
 * below (never from the request); every request value travels as a parameter.
 *
 * Semantics (the query model's contract, spelled out):
 * - eq/in on an either-side field (ip, port, name, type) match when src OR dst matches;
 *   neq/nin/not_cidr on one match when NEITHER side does. Likewise cidr/range on ip/port.
 * - neq/nin match records whose value is NULL (e.g. conn_state of a record without one).
 * - ip equality compares the numeric address, so `fd00::1` equals `fd00:0::1`; IPv4 is
 *   compared in its IPv4-mapped form, and a v4 prefix matches only IPv4 addresses.
 * - numeric comparisons are per record (bytes = bytes_tx + bytes_rx, packets likewise,
 *   duration_ms = (end_us - start_us) / 1000, handshake_us = tcp_synack_us + tcp_ack_us); a NULL
 *   (icmp_type/icmp_code/icmp_id of other traffic, latency not measured in that record) never
 *   matches, so `handshake_us gte 0` selects the records that carry a handshake.
 * - text `contains` is a case-insensitive substring of src_name, dst_name, peer_name,
 *   dst_domain, src_ip or dst_ip.
 * - nat_src_ip / nat_dst_ip compare as text (the agent writes them in canonical form).
 */
import { listValue, type DuckDBValue } from '@duckdb/node-api';
import { TCP_FLAGS, type TcpFlagName } from '../model/flow';
import { DIMENSIONS, type Dimension, type Filter } from '../model/query';
import { ipToBigInt, parseCidr } from '../store/ip';
import { ROLLUP_DIMENSIONS } from '../store/schema';
import { QueryInputError } from './errors';

/**
 * A filter as it arrives. The contract's literal unions are typed loosely (unknown), and the
 * engine must be safe even for input the schema did not check, so every field is checked here.
 */
interface LooseFilter {
  field: string;
  op: string;
  value?: unknown;
  values?: unknown[];
  min?: unknown;
  max?: unknown;
  flags?: unknown[];
}

/** Positional parameters ($1, $2, ...) collected while SQL is assembled. */
export class Params {
  readonly values: DuckDBValue[] = [];
  add(value: DuckDBValue): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

type DimensionKind = 'text' | 'enum' | 'int' | 'ip';

export const DIMENSION_KINDS: Record<Dimension, DimensionKind> = {
  node: 'text', interface: 'text', direction: 'enum', protocol: 'enum', ip_version: 'int',
  src_ip: 'ip', dst_ip: 'ip', src_port: 'int', dst_port: 'int',
  src_name: 'text', dst_name: 'text', src_type: 'enum', dst_type: 'enum', dst_domain: 'text',
  conn_state: 'enum', community_id: 'text', flow_id: 'text', record_kind: 'enum', end_reason: 'enum',
  peer_name: 'text', peer_key: 'text', transit: 'enum', link_id: 'text',
  nat_src_ip: 'text', nat_src_port: 'int', nat_dst_ip: 'text', nat_dst_port: 'int',
};

const EITHER_SIDE: Record<string, [Dimension, Dimension]> = {
  ip: ['src_ip', 'dst_ip'], port: ['src_port', 'dst_port'], name: ['src_name', 'dst_name'], type: ['src_type', 'dst_type'],
  connection: ['community_id', 'link_id'],
};

const NUMERIC_EXPRESSIONS: Record<string, string> = {
  bytes: '(bytes_tx + bytes_rx)', bytes_tx: 'bytes_tx', bytes_rx: 'bytes_rx',
  packets: '(packets_tx + packets_rx)', packets_tx: 'packets_tx', packets_rx: 'packets_rx',
  duration_ms: '((end_us - start_us) / 1000.0)', icmp_type: 'icmp_type', icmp_code: 'icmp_code', icmp_id: 'icmp_id',
  handshake_us: '(tcp_synack_us + tcp_ack_us)', tcp_synack_us: 'tcp_synack_us', tcp_ack_us: 'tcp_ack_us', dns_rtt_us: 'dns_rtt_us',
};

const INT64_LIMIT = 2 ** 63;

const COMPARATORS: Record<string, string> = { gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '=', neq: '<>' };

const FLAG_EXPRESSIONS: Record<string, string> = {
  tcp_flags_src: 'tcp_flags_src', tcp_flags_dst: 'tcp_flags_dst', tcp_flags: '(tcp_flags_src | tcp_flags_dst)',
};

const ROLLUP_DIMENSION_SET = new Set<string>(ROLLUP_DIMENSIONS);
const DIMENSION_SET = new Set<string>(DIMENSIONS);

/** The dimension as a comparable/groupable SQL expression (ENUMs as text, so ordering is by name). */
export function dimensionExpression(dimension: Dimension): string {
  if (!DIMENSION_SET.has(dimension)) throw new QueryInputError('dimension', `unknown dimension ${String(dimension)}`);
  return DIMENSION_KINDS[dimension] === 'enum' ? `CAST("${dimension}" AS VARCHAR)` : `"${dimension}"`;
}

export function rollupCoversDimension(dimension: Dimension): boolean {
  return ROLLUP_DIMENSION_SET.has(dimension);
}

/** Whether the rollup table has every column the filter reads. */
export function rollupCoversFilter(input: Filter): boolean {
  const filter = input as unknown as LooseFilter;
  const covered = (field: string) =>
    EITHER_SIDE[field] ? EITHER_SIDE[field].every((d) => ROLLUP_DIMENSION_SET.has(d)) : ROLLUP_DIMENSION_SET.has(field);
  switch (filter.op) {
    case 'eq':
    case 'neq':
    case 'in':
    case 'nin':
      return !(filter.field in NUMERIC_EXPRESSIONS && !DIMENSION_SET.has(filter.field)) && covered(filter.field);
    case 'cidr':
    case 'not_cidr':
    case 'contains':
      return true;
    case 'range':
      return covered(filter.field);
    default:
      return false;
  }
}

/** One filter's predicate; `at` names it in errors (e.g. filters[2]). */
export function compileFilter(input: Filter, params: Params, at: string): string {
  const filter = input as unknown as LooseFilter;
  if (!filter || typeof filter.field !== 'string' || typeof filter.op !== 'string') {
    throw new QueryInputError(at, 'a filter needs field and op');
  }
  switch (filter.op) {
    case 'eq':
    case 'neq':
    case 'in':
    case 'nin': {
      if (filter.field in NUMERIC_EXPRESSIONS && !DIMENSION_SET.has(filter.field)) {
        if (filter.op === 'in' || filter.op === 'nin') throw new QueryInputError(`${at}.op`, `${filter.op} is not defined for ${filter.field}`);
        return numericComparison(filter.field, filter.op, filter.value, params, at);
      }
      const values = filter.op === 'in' || filter.op === 'nin' ? filter.values : [filter.value];
      if (!Array.isArray(values) || values.some((v) => typeof v !== 'string' && typeof v !== 'number')) {
        throw new QueryInputError(`${at}.${filter.op === 'in' || filter.op === 'nin' ? 'values' : 'value'}`, 'text or number values');
      }
      const negative = filter.op === 'neq' || filter.op === 'nin';
      return sides(filter.field, at).map((d) => membership(d, values, negative, params, at)).join(negative ? ' AND ' : ' OR ');
    }
    case 'cidr':
    case 'not_cidr': {
      const range = parseCidr(String(filter.value));
      if (!range) throw new QueryInputError(`${at}.value`, `not an IP prefix or address: ${JSON.stringify(filter.value)}`);
      const columns = sides(filter.field, at);
      const inside = (d: Dimension) => addressInRange(d, range.lo, range.hi, params);
      if (!columns.every((d) => DIMENSION_KINDS[d] === 'ip')) throw new QueryInputError(`${at}.field`, 'cidr applies to src_ip, dst_ip or ip');
      return filter.op === 'cidr'
        ? `(${columns.map(inside).join(' OR ')})`
        : `(${columns.map((d) => `NOT ${inside(d)}`).join(' AND ')})`;
    }
    case 'range': {
      const columns = sides(filter.field, at);
      if (!columns.every((d) => d === 'src_port' || d === 'dst_port')) throw new QueryInputError(`${at}.field`, 'range applies to ports');
      const { min: low, max: high } = filter;
      if (typeof low !== 'number' || typeof high !== 'number' || !Number.isSafeInteger(low) || !Number.isSafeInteger(high) || low > high) {
        throw new QueryInputError(`${at}.min`, 'min must be an integer not above max');
      }
      const min = params.add(low);
      const max = params.add(high);
      return `(${columns.map((d) => `"${d}" BETWEEN ${min} AND ${max}`).join(' OR ')})`;
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return numericComparison(filter.field, filter.op, filter.value, params, at);
    case 'has_all':
    case 'has_any':
    case 'has_none': {
      const expression = FLAG_EXPRESSIONS[filter.field];
      if (!expression) throw new QueryInputError(`${at}.field`, `unknown flag field ${String(filter.field)}`);
      if (!Array.isArray(filter.flags) || filter.flags.length === 0) throw new QueryInputError(`${at}.flags`, 'at least one flag');
      let mask = 0;
      for (const name of filter.flags) {
        const bit = TCP_FLAGS[name as TcpFlagName];
        if (bit === undefined) throw new QueryInputError(`${at}.flags`, `unknown TCP flag ${String(name)}`);
        mask |= bit;
      }
      const m = params.add(mask);
      if (filter.op === 'has_all') return `((${expression} & ${m}) = ${m})`;
      return filter.op === 'has_any' ? `((${expression} & ${m}) <> 0)` : `((${expression} & ${m}) = 0)`;
    }
    case 'contains': {
      if (typeof filter.value !== 'string' || filter.value === '') throw new QueryInputError(`${at}.value`, 'non-empty text');
      const needle = params.add(filter.value.toLowerCase());
      const columns = ['src_name', 'dst_name', 'peer_name', 'dst_domain', 'src_ip', 'dst_ip'];
      return `(${columns.map((c) => `contains(lower("${c}"), ${needle})`).join(' OR ')})`;
    }
    default:
      throw new QueryInputError(`${at}.op`, `unknown operator ${filter.op}`);
  }
}

function sides(field: string, at: string): Dimension[] {
  if (EITHER_SIDE[field]) return EITHER_SIDE[field];
  if (DIMENSION_SET.has(field)) return [field as Dimension];
  throw new QueryInputError(`${at}.field`, `unknown field ${field}`);
}

function numericComparison(field: string, op: string, value: unknown, params: Params, at: string): string {
  const expression = NUMERIC_EXPRESSIONS[field];
  const comparator = COMPARATORS[op];
  if (!expression) throw new QueryInputError(`${at}.field`, `not a numeric field: ${field}`);
  if (!comparator) throw new QueryInputError(`${at}.op`, `unknown comparison ${op}`);
  const number = typeof value === 'number' ? value : Number.NaN;
  if (!Number.isFinite(number)) throw new QueryInputError(`${at}.value`, 'a finite number');
  // The counters are 64-bit integers; DuckDB cannot take a bound value outside that range.
  if (Math.abs(number) >= INT64_LIMIT) {
    throw new QueryInputError(`${at}.value`, `${number} is out of range for ${field}: use a number between -2^63 and 2^63 (exclusive)`);
  }
  return `(${expression} ${comparator} CAST(${params.add(number)} AS DOUBLE))`;
}

/** eq/neq/in/nin on one column. */
function membership(dimension: Dimension, values: readonly unknown[], negative: boolean, params: Params, at: string): string {
  if (values.length === 0) return negative ? 'TRUE' : 'FALSE';
  const kind = DIMENSION_KINDS[dimension];
  let column: string;
  let encoded: DuckDBValue[];
  let sqlType: string;
  if (kind === 'ip') {
    const numbers = values.map((v) => {
      const number = typeof v === 'string' ? ipToBigInt(v.trim()) : null;
      if (number === null) throw new QueryInputError(`${at}.value`, `not an IP address: ${JSON.stringify(v)}`);
      return number;
    });
    if (numbers.length === 1) {
      const equal = addressInRange(dimension, numbers[0], numbers[0], params);
      return negative ? `(NOT ${equal})` : equal;
    }
    column = `((CAST("${dimension}_hi" AS UHUGEINT) << 64) | "${dimension}_lo")`;
    sqlType = 'UHUGEINT';
    encoded = numbers.map((n) => n.toString());
  } else if (kind === 'int') {
    column = `"${dimension}"`;
    sqlType = 'BIGINT';
    encoded = values.map((v) => {
      const number = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
      if (!Number.isSafeInteger(number)) throw new QueryInputError(`${at}.value`, `${dimension} needs an integer, got ${JSON.stringify(v)}`);
      return String(number);
    });
  } else {
    column = dimensionExpression(dimension);
    sqlType = 'VARCHAR';
    encoded = values.map((v) => String(v));
  }
  if (encoded.length === 1) {
    const p = `CAST(${params.add(encoded[0])} AS ${sqlType})`;
    return negative ? `(${column} IS DISTINCT FROM ${p})` : `(${column} = ${p})`;
  }
  const list = `CAST(${params.add(listValue(encoded))} AS ${sqlType}[])`;
  const inList = `${column} IN (SELECT unnest(${list}))`;
  return negative ? `(${column} IS NULL OR NOT (${inList}))` : `(${inList})`;
}

const LOW_64 = (1n << 64n) - 1n;

/**
 * The address column pair (_hi, _lo) within [lo, hi] (128-bit, inclusive). A prefix of at
 * most 64 bits constrains _hi alone; a longer one (every IPv4 prefix) fixes _hi and ranges
 * over _lo: both plain column ranges DuckDB can prune row groups with.
 */
function addressInRange(dimension: Dimension, lo: bigint, hi: bigint, params: Params): string {
  const u64 = (n: bigint) => `CAST(${params.add(n.toString())} AS UBIGINT)`;
  const [loHigh, loLow, hiHigh, hiLow] = [lo >> 64n, lo & LOW_64, hi >> 64n, hi & LOW_64];
  const high = `"${dimension}_hi"`;
  const low = `"${dimension}_lo"`;
  if (loHigh === hiHigh) return `(${high} = ${u64(loHigh)} AND ${low} BETWEEN ${u64(loLow)} AND ${u64(hiLow)})`;
  if (loLow === 0n && hiLow === LOW_64) return `(${high} BETWEEN ${u64(loHigh)} AND ${u64(hiHigh)})`;
  // Not reachable for prefixes; kept exact for any range.
  return `((${high} > ${u64(loHigh)} OR (${high} = ${u64(loHigh)} AND ${low} >= ${u64(loLow)}))` +
    ` AND (${high} < ${u64(hiHigh)} OR (${high} = ${u64(hiHigh)} AND ${low} <= ${u64(hiLow)})))`;
}

/** All filters ANDed; 'TRUE' when there are none. */
export function compileFilters(filters: readonly Filter[] | undefined, params: Params): string {
  if (!filters || filters.length === 0) return 'TRUE';
  return filters.map((f, i) => `(${compileFilter(f, params, `filters[${i}]`)})`).join(' AND ');
}
