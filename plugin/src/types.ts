/**
 * Types shared by the plugin frontend: the panel query (docs/CONTRACTS.md "Plugin query"),
 * the data source settings the Go backend reads (plugin/pkg/models/settings.go), and the
 * agent query vocabulary copied from agent/src/model/query.ts. The copies are pinned to the
 * agent's exports by tests/unit/contract.test.ts, so they cannot drift silently.
 */
import { DataSourceJsonData } from '@grafana/data';
import { DataQuery } from '@grafana/schema';

// ---- Agent query vocabulary (copied from agent/src/model/query.ts and flow.ts) ----

export const DIMENSIONS = [
  'node', 'interface', 'direction', 'protocol', 'ip_version',
  'src_ip', 'dst_ip', 'src_port', 'dst_port',
  'src_name', 'dst_name', 'src_type', 'dst_type', 'dst_domain',
  'conn_state', 'community_id', 'flow_id', 'record_kind', 'end_reason',
  'peer_name', 'peer_key', 'transit', 'link_id', 'nat_src_ip', 'nat_src_port', 'nat_dst_ip', 'nat_dst_port',
] as const; // prettier-ignore
export type Dimension = (typeof DIMENSIONS)[number];

/** `ip` matches src_ip or dst_ip; likewise port, name, type; `connection`: community_id or link_id. */
export const EITHER_SIDE_FIELDS = ['ip', 'port', 'name', 'type', 'connection'] as const;
export type EitherSideField = (typeof EITHER_SIDE_FIELDS)[number];

export const NUMERIC_FIELDS = [
  'bytes', 'bytes_tx', 'bytes_rx', 'packets', 'packets_tx', 'packets_rx', 'duration_ms', 'icmp_type', 'icmp_code',
  'icmp_id', 'handshake_us', 'tcp_synack_us', 'tcp_ack_us', 'dns_rtt_us',
] as const; // prettier-ignore
export type NumericField = (typeof NUMERIC_FIELDS)[number];

export const FLAG_FIELDS = ['tcp_flags_src', 'tcp_flags_dst', 'tcp_flags'] as const;
export type FlagField = (typeof FLAG_FIELDS)[number];

export const METRICS = [
  'bytes', 'bytes_tx', 'bytes_rx', 'packets', 'packets_tx', 'packets_rx', 'flows',
  'handshakes', 'handshake_us_avg', 'handshake_us_max', 'synack_us_avg', 'ack_us_avg',
  'dns_responses', 'dns_rtt_us_avg', 'dns_rtt_us_max',
] as const; // prettier-ignore
export type Metric = (typeof METRICS)[number];

/** What the latency metrics mean (editor descriptions); the others explain themselves. */
export const METRIC_DESCRIPTIONS: Partial<Record<Metric, string>> = {
  handshakes: 'TCP handshakes measured',
  handshake_us_avg: 'TCP handshake time, average (SYN to the ACK completing it, µs)',
  handshake_us_max: 'TCP handshake time, slowest (µs)',
  synack_us_avg: 'SYN → SYN/ACK leg, average: the responder side of the capture point (µs)',
  ack_us_avg: 'SYN/ACK → ACK leg, average: the initiator side of the capture point (µs)',
  dns_responses: 'DNS response times measured',
  dns_rtt_us_avg: 'DNS response time, average (query to response, µs)',
  dns_rtt_us_max: 'DNS response time, slowest (µs)',
};

export const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'] as const;
export type TcpFlagName = (typeof TCP_FLAG_NAMES)[number];

export const CONN_STATES = [
  'S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH',
] as const; // prettier-ignore

export const ADDRESS_FIELDS = ['src_ip', 'dst_ip', 'ip'] as const;
export const PORT_FIELDS = ['src_port', 'dst_port', 'port'] as const;

type Scalar = string | number;
export type EqualityFilter = { field: Dimension | EitherSideField; op: 'eq' | 'neq'; value: Scalar };
export type MembershipFilter = { field: Dimension | EitherSideField; op: 'in' | 'nin'; values: Scalar[] };
export type CidrFilter = { field: (typeof ADDRESS_FIELDS)[number]; op: 'cidr' | 'not_cidr'; value: string };
export type PortRangeFilter = { field: (typeof PORT_FIELDS)[number]; op: 'range'; min: number; max: number };
export type NumericFilter = { field: NumericField; op: 'gt' | 'gte' | 'lt' | 'lte' | 'eq' | 'neq'; value: number };
export type FlagFilter = { field: FlagField; op: 'has_all' | 'has_any' | 'has_none'; flags: TcpFlagName[] };
export type TextFilter = { field: 'text'; op: 'contains'; value: string };

/** One agent filter; the union mirrors the agent's FilterSchema branch by branch. */
export type Filter =
  EqualityFilter | MembershipFilter | CidrFilter | PortRangeFilter | NumericFilter | FlagFilter | TextFilter;
export type FilterOp = Filter['op'];

// ---- Panel query (docs/CONTRACTS.md "Plugin query") ----

export const QUERY_TYPES = ['flows', 'top', 'timeseries', 'summary', 'topology'] as const;
export type QueryType = (typeof QUERY_TYPES)[number];
export type DedupeMode = 'default' | 'none' | 'connection';
export type FlowsOrder = 'newest' | 'oldest';
export type TopologyBy = 'ip' | 'name' | 'peer';

export interface FlowmeshQuery extends DataQuery {
  queryType?: QueryType;
  /** Empty or absent = all agents. */
  agents?: string[];
  filters?: Filter[];
  text?: string;
  /** top */
  groupBy?: Dimension[];
  /** top, timeseries, topology */
  metric?: Metric;
  /** top: N; flows: page size (max 10000) */
  limit?: number;
  /** timeseries */
  splitBy?: Dimension[];
  splitLimit?: number;
  /** flows */
  order?: FlowsOrder;
  dedupe?: DedupeMode;
  /** topology: endpoint identity (peer: by name, through the routing peer) */
  topologyBy?: TopologyBy;
  /** Also show flows still open in the agents' flow tables (record kind `open`). */
  includeOpen?: boolean;
}

export const QUERY_TYPE_LABELS: Record<QueryType, string> = {
  flows: 'Flows table',
  top: 'Top talkers',
  timeseries: 'Time series',
  summary: 'Summary',
  topology: 'Topology',
};

export const DEFAULT_QUERY: Partial<FlowmeshQuery> = {
  queryType: 'timeseries',
  metric: 'bytes',
  splitBy: ['direction'],
  splitLimit: 10,
  filters: [],
};

/** Defaults applied when the user switches to a query type and the field is still empty. */
export const TYPE_DEFAULTS: Record<QueryType, Partial<FlowmeshQuery>> = {
  flows: { limit: 1000, order: 'newest' },
  top: { groupBy: ['src_ip', 'dst_ip'], metric: 'bytes', limit: 10 },
  timeseries: { metric: 'bytes', splitLimit: 10 },
  summary: {},
  topology: { metric: 'bytes', topologyBy: 'ip', limit: 50 },
};

// ---- Data source settings ----

export interface AgentConfig {
  name: string;
  url: string;
}

/** Finding agents besides the configured list (plugin/pkg/models/settings.go Discovery). */
export interface DiscoveryOptions {
  /** Seconds between refreshes (backend default 60, 5-86400). */
  refreshIntervalS?: number;
  /** SRV records: each target host and port is an agent. */
  dns?: { names?: string[]; resolver?: string; scheme?: 'http' | 'https' };
  /** The targets of the Prometheus job that scrapes the agents. */
  prometheus?: { url?: string; job?: string; nameLabel?: string; user?: string };
}

/** jsonData, as plugin/pkg/models/settings.go reads it. */
export interface FlowmeshOptions extends DataSourceJsonData {
  agents?: AgentConfig[];
  /** Per-agent request timeout in ms (backend default 10000). */
  timeoutMs?: number;
  /** Agents queried at once per panel query (backend default 8). */
  maxConcurrency?: number;
  tlsSkipVerify?: boolean;
  /** Dedupe used by queries whose dedupe is `default` (backend default `none`). */
  defaultDedupe?: 'none' | 'connection';
  /** Rows an agent may return per aggregate (backend default 50000). */
  rowBudget?: number;
  /** Memory one query's agent replies may take, split over the agents asked (backend default 256). */
  maxQueryMemoryMB?: number;
  /** Agent name -> SHA-256 fingerprint of the certificate it must present (configured or discovered agents). */
  tlsPins?: Record<string, string>;
  discovery?: DiscoveryOptions;
}

/**
 * secureJsonData: a flat string map kept server-side. `token` is shared by every agent;
 * `token.<agentName>` overrides it for one agent. Grafana never sends these back; the
 * frontend only sees which keys are set (secureJsonFields).
 */
export type FlowmeshSecureJsonData = Record<string, string>;

export const SHARED_TOKEN_KEY = 'token';
/** Password for discovery.prometheus.user (HTTP basic authentication). */
export const PROMETHEUS_PASSWORD_KEY = 'prometheusPassword';
export const agentTokenKey = (agentName: string) => `token.${agentName}`;

export const OPTION_DEFAULTS = {
  timeoutMs: 10000,
  maxConcurrency: 8,
  maxQueryMemoryMB: 256,
  defaultDedupe: 'none',
  refreshIntervalS: 60,
  nameLabel: 'node',
} as const;

// ---- Backend resources (plugin/pkg/plugin/resources.go) ----

export interface ValueCount {
  value: string | number;
  count: number;
}

export interface ValuesRequest {
  dimension: Dimension;
  prefix?: string;
  agents?: string[];
  from?: number;
  to?: number;
  limit?: number;
  filters?: Filter[];
}

export interface ValuesResponse {
  dimension: string;
  values: ValueCount[];
  complete: boolean;
  failed: AgentHealth[];
}

export interface AgentHealth {
  name: string;
  url?: string;
  status: string;
  ok: boolean;
  message: string;
  /** Where the agent came from: static (jsonData.agents), dns or prometheus, and what was asked. */
  source?: string;
  origin?: string;
}

export interface DimensionsResponse {
  dimensions: Dimension[];
}

/** Variable query model (VariableQueryEditor): distinct values of one dimension. */
export interface FlowmeshVariableQuery extends DataQuery {
  dimension?: Dimension;
  prefix?: string;
  agents?: string[];
}
