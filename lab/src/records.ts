/**
 * Reading agent flow records back in tests: a connection may be reported as several records
 * (interim ones, then a final one, sharing a flow_id); these helpers fold them into one
 * connection view with summed counters and united flags.
 */
// the contract type, defined once for TypeScript (a type-only import: nothing of the agent is loaded)
import type { FlowRecord } from '@flowmesh/agent/src/model/flow';

export type { FlowRecord };

export interface Connection<R extends FlowRecord = FlowRecord> {
  /** The last record (highest seq): identity, direction, final conn_state. */
  last: R;
  records: R[];
  packets_tx: number;
  packets_rx: number;
  bytes_tx: number;
  bytes_rx: number;
  tcp_flags_src: number;
  tcp_flags_dst: number;
}

/** Groups records by flow_id into connections (counters summed, flags OR-ed). */
export function connections<R extends FlowRecord>(records: readonly R[]): Connection<R>[] {
  const byId = new Map<string, R[]>();
  for (const r of records) byId.set(r.flow_id, [...(byId.get(r.flow_id) ?? []), r]);
  return [...byId.values()].map((group) => {
    const sorted = [...group].sort((x, y) => x.seq - y.seq);
    const sum = (pick: (r: R) => number) => sorted.reduce((acc, r) => acc + pick(r), 0);
    const or = (pick: (r: R) => number) => sorted.reduce((acc, r) => acc | pick(r), 0);
    return {
      last: sorted[sorted.length - 1],
      records: sorted,
      packets_tx: sum((r) => r.packets_tx),
      packets_rx: sum((r) => r.packets_rx),
      bytes_tx: sum((r) => r.bytes_tx),
      bytes_rx: sum((r) => r.bytes_rx),
      tcp_flags_src: or((r) => r.tcp_flags_src),
      tcp_flags_dst: or((r) => r.tcp_flags_dst),
    };
  });
}

/** The one connection matching `match`; throws naming what was there when there is not exactly one. */
export function onlyConnection<R extends FlowRecord>(
  all: readonly Connection<R>[],
  match: Partial<Pick<FlowRecord, 'protocol' | 'src_ip' | 'dst_ip' | 'src_port' | 'dst_port'>>,
): Connection<R> {
  const found = all.filter((c) => Object.entries(match).every(([k, v]) => c.last[k as keyof FlowRecord] === v));
  if (found.length !== 1) {
    const seen = all.map((c) => `${c.last.protocol} ${c.last.src_ip}:${c.last.src_port} -> ${c.last.dst_ip}:${c.last.dst_port}`);
    throw new Error(`expected exactly one connection matching ${JSON.stringify(match)}, found ${found.length}; connections: ${seen.join('; ')}`);
  }
  return found[0];
}
