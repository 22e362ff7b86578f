/**
 * The query model computed in plain TypeScript over an array of records: the oracle the
 * query tests compare the DuckDB engine against. Written from the contract's header
 * comments (agent/src/model/query.ts) and the filter semantics in agent/src/query/filters.ts,
 * deliberately without sharing code with the engine.
 */
import type { FlowRecord } from '../src/model/flow';
import { TCP_FLAGS, type TcpFlagName } from '../src/model/flow';
import type { Filter, Query, Totals } from '../src/model/query';
import { ipToBigInt, parseCidr } from '../src/store/ip';

type Loose = { field: string; op: string; value?: unknown; values?: unknown[]; min?: number; max?: number; flags?: string[] };
type Value = string | number | null;

const EITHER: Record<string, string[]> = { ip: ['src_ip', 'dst_ip'], port: ['src_port', 'dst_port'], name: ['src_name', 'dst_name'], type: ['src_type', 'dst_type'] };
const NUMERIC: Record<string, (r: FlowRecord) => number | null> = {
  bytes: (r) => r.bytes_tx + r.bytes_rx, bytes_tx: (r) => r.bytes_tx, bytes_rx: (r) => r.bytes_rx,
  packets: (r) => r.packets_tx + r.packets_rx, packets_tx: (r) => r.packets_tx, packets_rx: (r) => r.packets_rx,
  duration_ms: (r) => (r.end_us - r.start_us) / 1000, icmp_type: (r) => r.icmp_type, icmp_code: (r) => r.icmp_code,
  icmp_id: (r) => r.icmp_id, tcp_synack_us: (r) => r.tcp_synack_us, tcp_ack_us: (r) => r.tcp_ack_us, dns_rtt_us: (r) => r.dns_rtt_us,
  handshake_us: (r) => (r.tcp_synack_us === null || r.tcp_ack_us === null ? null : r.tcp_synack_us + r.tcp_ack_us),
};
const field = (r: FlowRecord, name: string): Value => (r as unknown as Record<string, Value>)[name];

function sideEquals(r: FlowRecord, column: string, value: unknown): boolean {
  const v = field(r, column);
  if (column === 'src_ip' || column === 'dst_ip') return ipToBigInt(String(v)) === ipToBigInt(String(value));
  if (typeof v === 'number') return v === Number(value);
  return v !== null && v === String(value);
}

export function matches(r: FlowRecord, filter: Filter): boolean {
  const f = filter as unknown as Loose;
  const columns = EITHER[f.field] ?? [f.field];
  switch (f.op) {
    case 'eq':
    case 'neq':
    case 'in':
    case 'nin': {
      if (NUMERIC[f.field] && !['src_port', 'dst_port'].includes(f.field)) {
        const v = NUMERIC[f.field](r);
        return v !== null && (f.op === 'eq' ? v === f.value : v !== f.value);
      }
      const values = f.op === 'in' || f.op === 'nin' ? f.values! : [f.value];
      const any = columns.some((c) => values.some((v) => sideEquals(r, c, v)));
      return f.op === 'eq' || f.op === 'in' ? any : !any;
    }
    case 'cidr':
    case 'not_cidr': {
      const range = parseCidr(String(f.value))!;
      const inside = columns.some((c) => {
        const n = ipToBigInt(String(field(r, c)))!;
        return n >= range.lo && n <= range.hi;
      });
      return f.op === 'cidr' ? inside : !inside;
    }
    case 'range':
      return columns.some((c) => (field(r, c) as number) >= f.min! && (field(r, c) as number) <= f.max!);
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const v = NUMERIC[f.field](r);
      if (v === null) return false;
      const x = f.value as number;
      return f.op === 'gt' ? v > x : f.op === 'gte' ? v >= x : f.op === 'lt' ? v < x : v <= x;
    }
    case 'has_all':
    case 'has_any':
    case 'has_none': {
      const flags = f.field === 'tcp_flags_src' ? r.tcp_flags_src : f.field === 'tcp_flags_dst' ? r.tcp_flags_dst : r.tcp_flags_src | r.tcp_flags_dst;
      const mask = f.flags!.reduce((m, name) => m | TCP_FLAGS[name as TcpFlagName], 0);
      return f.op === 'has_all' ? (flags & mask) === mask : f.op === 'has_any' ? (flags & mask) !== 0 : (flags & mask) === 0;
    }
    case 'contains': {
      const needle = String(f.value).toLowerCase();
      return [r.src_name, r.dst_name, r.dst_domain, r.src_ip, r.dst_ip].some((t) => t.toLowerCase().includes(needle));
    }
  }
  throw new Error(`oracle: unknown op ${f.op}`);
}

export const totalsOf = (records: FlowRecord[]): Totals => {
  const t: Totals = {
    bytes: 0, bytes_tx: 0, bytes_rx: 0, packets: 0, packets_tx: 0, packets_rx: 0, flows: 0,
    handshakes: 0, synack_us_sum: 0, ack_us_sum: 0, handshake_us_max: 0, dns_responses: 0, dns_rtt_us_sum: 0, dns_rtt_us_max: 0,
  };
  for (const r of records) {
    t.bytes_tx += r.bytes_tx; t.bytes_rx += r.bytes_rx; t.packets_tx += r.packets_tx; t.packets_rx += r.packets_rx;
    if (r.seq === 0) t.flows++;
    if (r.tcp_synack_us !== null && r.tcp_ack_us !== null) {
      t.handshakes++;
      t.synack_us_sum += r.tcp_synack_us;
      t.ack_us_sum += r.tcp_ack_us;
      t.handshake_us_max = Math.max(t.handshake_us_max, r.tcp_synack_us + r.tcp_ack_us);
    }
    if (r.dns_rtt_us !== null) {
      t.dns_responses++;
      t.dns_rtt_us_sum += r.dns_rtt_us;
      t.dns_rtt_us_max = Math.max(t.dns_rtt_us_max, r.dns_rtt_us);
    }
  }
  t.bytes = t.bytes_tx + t.bytes_rx;
  t.packets = t.packets_tx + t.packets_rx;
  return t;
};

/** A metric from the totals of a set of records (contract: averages over measurements, 0 without any). */
export function metricOf(t: Totals, metric: string): number {
  const mean = (sum: number, n: number) => (n === 0 ? 0 : sum / n);
  if (metric === 'handshake_us_avg') return mean(t.synack_us_sum + t.ack_us_sum, t.handshakes);
  if (metric === 'synack_us_avg') return mean(t.synack_us_sum, t.handshakes);
  if (metric === 'ack_us_avg') return mean(t.ack_us_sum, t.handshakes);
  if (metric === 'dns_rtt_us_avg') return mean(t.dns_rtt_us_sum, t.dns_responses);
  return t[metric as keyof Totals];
}

const AVERAGE_COUNT: Record<string, keyof Totals> = {
  handshake_us_avg: 'handshakes', synack_us_avg: 'handshakes', ack_us_avg: 'handshakes', dns_rtt_us_avg: 'dns_responses',
};

/** Ascending, NULLs last, numbers numerically, strings by code unit (= DuckDB's byte order for ASCII). */
export function compareValues(a: Value, b: Value): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

const inAggregateRange = (q: Query, r: FlowRecord) => r.start_us >= q.from * 1000 && r.start_us < q.to * 1000;
const selected = (q: Query, records: FlowRecord[]) => records.filter((r) => inAggregateRange(q, r) && (q.filters ?? []).every((f) => matches(r, f)));

function groupBy(records: FlowRecord[], dims: string[]) {
  const groups = new Map<string, { key: Record<string, Value>; records: FlowRecord[] }>();
  for (const r of records) {
    const key: Record<string, Value> = {};
    for (const d of dims) key[d] = field(r, d);
    const id = JSON.stringify(dims.map((d) => key[d]));
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { key, records: [] }));
    g.records.push(r);
  }
  return [...groups.values()].map((g) => ({ key: g.key, totals: totalsOf(g.records), count: g.records.length }));
}

export function oracle(q: Query, records: FlowRecord[]): unknown {
  switch (q.kind) {
    case 'top': {
      const metric = q.metric ?? 'bytes';
      const dims = [...new Set(q.group_by as string[])];
      const groups = groupBy(selected(q, records), dims).sort(
        (a, b) => metricOf(b.totals, metric) - metricOf(a.totals, metric) || dims.reduce((c, d) => c || compareValues(a.key[d], b.key[d]), 0),
      );
      const limit = q.limit ?? 10;
      const rows = limit === 0 ? groups : groups.slice(0, limit);
      const kept = new Set(rows);
      const rest = groups.filter((g) => !kept.has(g));
      const total = totalsOf(selected(q, records));
      const inKept = new Set(rows.map((g) => JSON.stringify(dims.map((d) => g.key[d]))));
      const other = totalsOf(selected(q, records).filter((r) => !inKept.has(JSON.stringify(dims.map((d) => field(r, d))))));
      return {
        kind: 'top', group_by: dims, metric,
        rows: rows.map((r) => ({ key: r.key, value: metricOf(r.totals, metric), totals: r.totals })),
        other: { groups: rest.length, value: metricOf(other, metric), totals: other }, total,
      };
    }
    case 'timeseries': {
      const metric = q.metric ?? 'bytes';
      const countField = AVERAGE_COUNT[metric];
      const iv = q.interval_ms;
      const first = Math.floor(q.from / iv);
      const times: number[] = [];
      for (let t = first * iv; t < q.to; t += iv) times.push(t);
      const dims = [...new Set((q.split_by ?? []) as string[])];
      const recs = selected(q, records);
      // each bucket is the metric over the bucket's records; averages also carry their counts
      const seriesOf = (rs: FlowRecord[]) => {
        const buckets = times.map((): FlowRecord[] => []);
        for (const r of rs) buckets[Math.floor(r.start_us / 1000 / iv) - first].push(r);
        const totals = buckets.map((b) => totalsOf(b));
        const values = totals.map((t) => metricOf(t, metric));
        return countField ? { values, counts: totals.map((t) => t[countField]) } : { values };
      };
      if (dims.length === 0) return { kind: 'timeseries', interval_ms: iv, metric, split_by: [], times, series: [{ key: {}, other: false, ...seriesOf(recs) }] };
      const groups = groupBy(recs, dims).sort(
        (a, b) => metricOf(b.totals, metric) - metricOf(a.totals, metric) || dims.reduce((c, d) => c || compareValues(a.key[d], b.key[d]), 0),
      );
      const limit = q.split_limit ?? 10;
      const kept = limit === 0 ? groups : groups.slice(0, limit);
      const keyId = (key: Record<string, Value>) => JSON.stringify(dims.map((d) => key[d]));
      const keptIds = new Set(kept.map((g) => keyId(g.key)));
      const series = kept.map((g) => ({
        key: g.key, other: false,
        ...seriesOf(recs.filter((r) => keyId(Object.fromEntries(dims.map((d) => [d, field(r, d)]))) === keyId(g.key))),
      }));
      if (groups.length > kept.length) {
        series.push({ key: {}, other: true, ...seriesOf(recs.filter((r) => !keptIds.has(keyId(Object.fromEntries(dims.map((d) => [d, field(r, d)])))))) });
      }
      return { kind: 'timeseries', interval_ms: iv, metric, split_by: dims, times, series };
    }
    case 'summary': {
      const recs = selected(q, records);
      const by = (d: 'direction' | 'protocol') => Object.fromEntries(groupBy(recs, [d]).map((g) => [String(g.key[d]), g.totals]));
      return {
        kind: 'summary', total: totalsOf(recs), records: recs.length,
        first_us: recs.length ? Math.min(...recs.map((r) => r.start_us)) : null,
        last_us: recs.length ? Math.max(...recs.map((r) => r.end_us)) : null,
        distinct_src_ips: new Set(recs.map((r) => r.src_ip)).size,
        distinct_dst_ips: new Set(recs.map((r) => r.dst_ip)).size,
        by_direction: by('direction'), by_protocol: by('protocol'),
      };
    }
    case 'values': {
      const prefix = (q.prefix ?? '').toLowerCase();
      const d = q.dimension as string;
      const counts = groupBy(selected(q, records), [d])
        .filter((g) => g.key[d] !== null && String(g.key[d]) !== '' && String(g.key[d]).toLowerCase().startsWith(prefix))
        .map((g) => ({ value: g.key[d] as string | number, count: g.count }))
        .sort((a, b) => b.count - a.count || compareValues(a.value, b.value));
      return { kind: 'values', dimension: d, values: counts.slice(0, q.limit ?? 100) };
    }
    case 'flows':
      throw new Error('use flowsOracle');
  }
}

/** Records of a flows query, all pages, in order (ties by flow_id then seq; exact duplicates stay adjacent). */
export function flowsOracle(q: Query & { kind: 'flows' }, records: FlowRecord[]): FlowRecord[] {
  const sign = (q.order ?? 'newest') === 'newest' ? -1 : 1;
  return records
    .filter((r) => r.start_us < q.to * 1000 && r.end_us >= q.from * 1000 && (q.filters ?? []).every((f) => matches(r, f)))
    .sort((a, b) => sign * (a.start_us - b.start_us || compareValues(a.flow_id, b.flow_id) || a.seq - b.seq));
}
