/**
 * The flow record's vocabularies (directions, endpoint types, record kinds, end reasons,
 * conn_state, TCP flag bits), apart from the record's schema: the per-packet modules (flow
 * table, TCP state) need these values only, and the schema library costs about 0.1 s of
 * module loading that a short import should not pay. model/flow.ts re-exports them.
 */
export const DIRECTIONS = ['inbound', 'outbound', 'forwarded'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** inventory types; `unknown` = private/unmatched address, `external` = unmatched public one. */
export const ENDPOINT_TYPES = ['node', 'user', 'external', 'egress', 'unknown'] as const;
export type EndpointType = (typeof ENDPOINT_TYPES)[number];

/** Kinds the flow table emits and the store keeps. */
export const STORED_RECORD_KINDS = ['interim', 'final'] as const;
/** `open`: a flow still in the flow table, as the API shows it with include_open (never stored). */
export const RECORD_KINDS = [...STORED_RECORD_KINDS, 'open'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/**
 * Which leg of a connection this node forwarded between two captured interfaces the record
 * is: `ingress` where it entered the node (the pre-NAT side), `egress` where it left (the
 * post-NAT side, or the later-seen copy of an untranslated one). Network-wide aggregates count
 * the ingress leg only (the plugin's dedupe `connection` leaves egress legs out).
 */
export const TRANSIT_LEGS = ['ingress', 'egress'] as const;
export type TransitLeg = (typeof TRANSIT_LEGS)[number];

/** Why a record was emitted. */
export const STORED_END_REASONS = ['active_timeout', 'idle_timeout', 'tcp_close', 'tcp_reset', 'evicted', 'shutdown'] as const;
/** `open`: not emitted yet (the end reason of an open record). */
export const END_REASONS = [...STORED_END_REASONS, 'open'] as const;
export type EndReason = (typeof END_REASONS)[number];

/** Zeek's conn_state vocabulary (non-TCP: S0 = one way only, SF = both ways). */
export const CONN_STATES = [
  'S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH',
] as const;
export type ConnState = (typeof CONN_STATES)[number];

/** TCP flag bits as in the TCP header's flags byte. */
export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;
export type TcpFlagName = keyof typeof TCP_FLAGS;
export const TCP_FLAG_NAMES = Object.keys(TCP_FLAGS) as TcpFlagName[];
