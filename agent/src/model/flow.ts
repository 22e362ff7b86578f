/**
 * The flow record: the one definition of what a flow is on the wire, in the store and in
 * the API (snake_case names are the DuckDB column names and the JSON field names, so no
 * layer renames anything). The Go plugin mirrors this in plugin/pkg/models and a test
 * checks both against the OpenAPI document the agent publishes.
 *
 * A record covers one reporting period of one connection: counters and TCP flags are for
 * [start_us, end_us] only, so records of one flow (same flow_id, seq 0, 1, 2...) sum to the
 * connection's totals. conn_state is cumulative at the time the record was emitted.
 *
 * Latency (tcp_synack_us, tcp_ack_us, dns_rtt_us) is a measurement, not a counter: each one
 * is carried by exactly one record of the flow (the first emitted after it was taken), so
 * summing or averaging over records never counts a measurement twice.
 *
 * `open` records are never stored: the query API adds them on request (include_open) for
 * flows still in the flow table, with the counters of their current period so far.
 */
import { Type, type Static, type TLiteral, type TUnion } from '@sinclair/typebox';

export * from './vocabulary';
import { CONN_STATES, DIRECTIONS, END_REASONS, ENDPOINT_TYPES, RECORD_KINDS, TRANSIT_LEGS } from './vocabulary';

/** A union of string literals whose Static type is the literal union itself (not unknown). */
export const literalUnion = <T extends string>(values: readonly T[], description: string): TUnion<TLiteral<T>[]> =>
  Type.Union(values.map((v) => Type.Literal(v)), { description });

export const FlowRecordSchema = Type.Object(
  {
    flow_id: Type.String({ description: 'Stable id of the connection on this agent; shared by its interim and final records' }),
    seq: Type.Integer({ minimum: 0, description: 'Record number within the flow (0 = first)' }),
    record_kind: literalUnion(RECORD_KINDS, 'interim (active timeout, more to come), final, or open (still in the flow table; include_open only)'),
    end_reason: literalUnion(END_REASONS, 'Why this record was emitted (open: not emitted yet)'),
    node: Type.String({ description: 'Name of the reporting node (agent)' }),
    interface: Type.String({ description: 'Capture interface, or the file name for imports' }),
    flow_start_us: Type.Integer({ description: 'First packet of the connection, epoch microseconds' }),
    start_us: Type.Integer({ description: 'First packet of this record period, epoch microseconds' }),
    end_us: Type.Integer({ description: 'Last packet of this record period, epoch microseconds' }),
    direction: literalUnion(DIRECTIONS, "From the reporting node's view"),
    ip_version: Type.Union([Type.Literal(4), Type.Literal(6)]),
    protocol: Type.String({ description: 'tcp, udp, icmp, icmpv6, or ip-<number>' }),
    protocol_number: Type.Integer({ minimum: 0, maximum: 255 }),
    src_ip: Type.String({ description: 'Initiator address' }),
    src_port: Type.Integer({ minimum: 0, maximum: 65535, description: '0 when the protocol has no ports' }),
    dst_ip: Type.String(),
    dst_port: Type.Integer({ minimum: 0, maximum: 65535, description: 'ICMP: 0; see icmp_* fields' }),
    src_name: Type.String({ description: "Inventory name, '' when unknown" }),
    src_type: literalUnion(ENDPOINT_TYPES, 'Inventory type'),
    dst_name: Type.String(),
    dst_type: literalUnion(ENDPOINT_TYPES, 'Inventory type'),
    dst_domain: Type.String({ description: "Domain the destination was resolved from (DNS seen on the wire), '' if none" }),
    icmp_type: Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()]),
    icmp_code: Type.Union([Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()]),
    packets_tx: Type.Integer({ minimum: 0, description: 'Packets sent by src' }),
    packets_rx: Type.Integer({ minimum: 0, description: 'Packets received by src (sent by dst)' }),
    bytes_tx: Type.Integer({ minimum: 0, description: 'IP-layer bytes (header + payload) sent by src' }),
    bytes_rx: Type.Integer({ minimum: 0, description: 'IP-layer bytes sent by dst' }),
    tcp_flags_src: Type.Integer({ minimum: 0, maximum: 255, description: 'Union of TCP flags sent by src in this period' }),
    tcp_flags_dst: Type.Integer({ minimum: 0, maximum: 255, description: 'Union of TCP flags sent by dst in this period' }),
    conn_state: Type.Union([literalUnion(CONN_STATES, 'Zeek conn_state'), Type.Null()]),
    community_id: Type.String({ description: 'Community ID v1 (seed 0), e.g. 1:LQU9qZlK+B5F3KDmev6m5PMibrg=' }),
    icmp_id: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.Null()], {
      description: 'ICMP/ICMPv6 echo identifier (part of the flow key; Community ID ignores it), null for other traffic',
    }),
    tcp_synack_us: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: "TCP handshake, first leg at the capture point: src's first SYN to dst's first SYN/ACK, µs (on the one record that reports the handshake)",
    }),
    tcp_ack_us: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: "TCP handshake, second leg: dst's first SYN/ACK to src's first ACK after it, µs (set together with tcp_synack_us)",
    }),
    dns_rtt_us: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], {
      description: 'DNS response time on a DNS flow: the first query answered in this record period, query to response, µs',
    }),
    peer_name: Type.String({
      description: "WireGuard captures: inventory name of the peer whose allowed IPs route the remote address (longest prefix), '' when unnamed or none",
    }),
    peer_key: Type.String({ description: "That peer's public key, '' when the record was not captured on a WireGuard interface or no peer routes it" }),
    transit: Type.Union([literalUnion(TRANSIT_LEGS, 'Leg of a connection forwarded between two captured interfaces'), Type.Null()], {
      description: 'ingress (counted) or egress (a second view of the same connection on this node); null when the node saw it once',
    }),
    link_id: Type.String({ description: "Community ID of the same connection on the other side of this node's NAT, '' when not translated" }),
    nat_src_ip: Type.String({ description: "src address on the other side of this node's NAT, '' when not translated" }),
    nat_src_port: Type.Integer({ minimum: 0, maximum: 65535, description: 'src port on the other side of the NAT, 0 when not translated' }),
    nat_dst_ip: Type.String({ description: "dst address on the other side of the NAT, '' when not translated" }),
    nat_dst_port: Type.Integer({ minimum: 0, maximum: 65535, description: 'dst port on the other side of the NAT, 0 when not translated' }),
  },
  { $id: 'FlowRecord', additionalProperties: false },
);
export type FlowRecord = Static<typeof FlowRecordSchema>;

/** Where flow records leave the flow table. The store implements it; a JSON-lines sink exists for inspection. */
export interface FlowSink {
  /** Accepts a record; must not block and must not throw on storage trouble (hold, or count as dropped, instead). */
  write(record: FlowRecord): void;
  /** Resolves once every record written so far is durable; rejects when they cannot be written now (they stay held). */
  flush(): Promise<void>;
  /** Flushes and releases resources. */
  close(): Promise<void>;
  /** Committed / held / dropped counts and what writing waits for (sinks that can be degraded: the store). */
  status?(): SinkStatus;
  /**
   * For producers that can wait (imports): resolves once the sink writes again (`all`: once
   * everything it holds is written), retrying meanwhile; rejects with the signal's reason.
   */
  settled?(options: { all: boolean; signal?: AbortSignal }): Promise<void>;
}

export interface SinkStatus {
  /** Records durably written. */
  committed: number;
  /** Records accepted but not yet written (retried). */
  held: number;
  /** Records counted as dropped. */
  dropped: number;
  /** What writing is waiting for (e.g. "the disk is full (...); retry in 4 s"), null when it is not. */
  waiting: string | null;
}
