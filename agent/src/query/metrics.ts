/**
 * Measures and metrics over the facts relation (see engine.ts): the columns every fact row
 * carries (raw records and rollup rows alike), how they aggregate into Totals, and how each
 * metric is computed from them. Averages are kept as a sum and a count until the end, maxima
 * as maxima, so totals of groups, buckets and agents merge exactly (METRIC_AGGREGATION).
 */
import type { DuckDBValue } from '@duckdb/node-api';
import { METRIC_AGGREGATION, type Metric, type Totals } from '../model/query';

/** Measure columns of a raw record as fact columns (names = rollup measure columns). */
export const RAW_MEASURES = [
  'CAST(seq = 0 AS BIGINT) AS flows', 'packets_tx', 'packets_rx', 'bytes_tx', 'bytes_rx',
  'CAST(tcp_synack_us IS NOT NULL AS BIGINT) AS handshakes',
  'coalesce(tcp_synack_us, 0) AS synack_us_sum',
  'coalesce(tcp_ack_us, 0) AS ack_us_sum',
  'tcp_synack_us + tcp_ack_us AS handshake_us_max',
  'CAST(dns_rtt_us IS NOT NULL AS BIGINT) AS dns_responses',
  'coalesce(dns_rtt_us, 0) AS dns_rtt_us_sum',
  'dns_rtt_us AS dns_rtt_us_max',
].join(', ');

/** The same columns as the rollup stores them. */
export const ROLLUP_MEASURES = [
  'flows', 'packets_tx', 'packets_rx', 'bytes_tx', 'bytes_rx', 'handshakes', 'synack_us_sum', 'ack_us_sum',
  'handshake_us_max', 'dns_responses', 'dns_rtt_us_sum', 'dns_rtt_us_max',
].join(', ');

/** Totals fields read from the database, in this order, and how each aggregates. */
const TOTAL_PARTS = [
  ['flows', 'sum'], ['packets_tx', 'sum'], ['packets_rx', 'sum'], ['bytes_tx', 'sum'], ['bytes_rx', 'sum'],
  ['handshakes', 'sum'], ['synack_us_sum', 'sum'], ['ack_us_sum', 'sum'], ['handshake_us_max', 'max'],
  ['dns_responses', 'sum'], ['dns_rtt_us_sum', 'sum'], ['dns_rtt_us_max', 'max'],
] as const satisfies readonly (readonly [keyof Totals, 'sum' | 'max'])[];

/** How many values totalsFrom reads. */
export const TOTAL_WIDTH = TOTAL_PARTS.length;

/** Group aggregates of fact columns, named m_<field> (one per Totals part). */
export const GROUP_TOTALS = TOTAL_PARTS.map(([field, agg]) => `${agg}(${field}) AS m_${field}`).join(', ');

/** The Totals parts over a relation of groups (m_* columns), as DOUBLEs, in totalsFrom order. */
export function totalsOver(window = ''): string {
  return TOTAL_PARTS.map(([field, agg]) => `CAST(${agg}(m_${field})${window} AS DOUBLE)`).join(', ');
}

/** The Totals parts of one group row (m_* columns), as DOUBLEs, in totalsFrom order. */
export const GROUP_TOTAL_COLUMNS = TOTAL_PARTS.map(([field]) => `CAST(m_${field} AS DOUBLE)`).join(', ');

/** The Totals parts over fact rows, as DOUBLEs, in totalsFrom order (summary). */
export const FACT_TOTALS = TOTAL_PARTS.map(([field, agg]) => `CAST(${agg}(${field}) AS DOUBLE)`).join(', ');

const num = (value: DuckDBValue): number => (typeof value === 'bigint' ? Number(value) : value === null ? 0 : (value as number));

export function totalsFrom(values: readonly DuckDBValue[]): Totals {
  const t = emptyTotals();
  TOTAL_PARTS.forEach(([field], i) => (t[field] = num(values[i])));
  t.bytes = t.bytes_tx + t.bytes_rx;
  t.packets = t.packets_tx + t.packets_rx;
  return t;
}

export const emptyTotals = (): Totals => ({
  bytes: 0, bytes_tx: 0, bytes_rx: 0, packets: 0, packets_tx: 0, packets_rx: 0, flows: 0,
  handshakes: 0, synack_us_sum: 0, ack_us_sum: 0, handshake_us_max: 0, dns_responses: 0, dns_rtt_us_sum: 0, dns_rtt_us_max: 0,
});

const mean = (sum: number, count: number) => (count > 0 ? sum / count : 0);

/** A metric's value from totals (an average with no measurement is 0). */
export function metricValue(t: Totals, metric: Metric): number {
  switch (metric) {
    case 'handshake_us_avg':
      return mean(t.synack_us_sum + t.ack_us_sum, t.handshakes);
    case 'synack_us_avg':
      return mean(t.synack_us_sum, t.handshakes);
    case 'ack_us_avg':
      return mean(t.ack_us_sum, t.handshakes);
    case 'dns_rtt_us_avg':
      return mean(t.dns_rtt_us_sum, t.dns_responses);
    default:
      return t[metric];
  }
}

/** A metric over m_* group columns, for ordering groups in SQL (consistent with metricValue). */
export function groupMetricSql(metric: Metric): string {
  const ratio = (sum: string, count: string) => `coalesce(CAST(${sum} AS DOUBLE) / nullif(${count}, 0), 0)`;
  switch (metric) {
    case 'bytes':
      return '(m_bytes_tx + m_bytes_rx)';
    case 'packets':
      return '(m_packets_tx + m_packets_rx)';
    case 'handshake_us_avg':
      return ratio('(m_synack_us_sum + m_ack_us_sum)', 'm_handshakes');
    case 'synack_us_avg':
      return ratio('m_synack_us_sum', 'm_handshakes');
    case 'ack_us_avg':
      return ratio('m_ack_us_sum', 'm_handshakes');
    case 'dns_rtt_us_avg':
      return ratio('m_dns_rtt_us_sum', 'm_dns_responses');
    default:
      return `coalesce(m_${metric}, 0)`;
  }
}

/**
 * A metric per bucket over fact rows: `value` aggregates with `aggregate` (sum or max), and
 * for averages `count` is the number of measurements (the value is then a sum, divided at the end).
 */
export interface BucketMetric {
  aggregate: 'sum' | 'max';
  value: string;
  count: string | null;
}

export function bucketMetric(metric: Metric): BucketMetric {
  switch (metric) {
    case 'bytes':
      return { aggregate: 'sum', value: '(bytes_tx + bytes_rx)', count: null };
    case 'packets':
      return { aggregate: 'sum', value: '(packets_tx + packets_rx)', count: null };
    case 'handshake_us_avg':
      return { aggregate: 'sum', value: '(synack_us_sum + ack_us_sum)', count: 'handshakes' };
    case 'synack_us_avg':
      return { aggregate: 'sum', value: 'synack_us_sum', count: 'handshakes' };
    case 'ack_us_avg':
      return { aggregate: 'sum', value: 'ack_us_sum', count: 'handshakes' };
    case 'dns_rtt_us_avg':
      return { aggregate: 'sum', value: 'dns_rtt_us_sum', count: 'dns_responses' };
    default:
      return { aggregate: METRIC_AGGREGATION[metric] === 'max' ? 'max' : 'sum', value: metric, count: null };
  }
}
