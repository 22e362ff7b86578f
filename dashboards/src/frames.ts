/**
 * How the plugin names the fields of its frames (plugin/pkg/frames). Grafana matches
 * overrides and transformations by a field's display name, and the plugin sets display
 * names, so panels refer to these. test/dashboards.test.ts checks them against the Go source.
 */

/** Display names of top-frame dimension columns (frames.go dimensionLabels). */
export const DIMENSION_LABELS: Record<string, string> = {
  node: 'Node', interface: 'Interface', direction: 'Direction', protocol: 'Protocol', ip_version: 'IP version',
  src_ip: 'Source IP', dst_ip: 'Destination IP', src_port: 'Source port', dst_port: 'Destination port',
  src_name: 'Source name', dst_name: 'Destination name', src_type: 'Source type', dst_type: 'Destination type',
  dst_domain: 'Domain', conn_state: 'Connection state', community_id: 'Community ID', flow_id: 'Flow ID',
  record_kind: 'Record kind', end_reason: 'End reason',
};

/** Display names of metric columns (frames.go metricLabels). */
export const METRIC_LABELS: Record<string, string> = {
  bytes: 'Bytes', bytes_tx: 'Bytes sent', bytes_rx: 'Bytes received',
  packets: 'Packets', packets_tx: 'Packets sent', packets_rx: 'Packets received', flows: 'Flows',
  handshakes: 'Handshakes', handshake_us_avg: 'Handshake (avg)', handshake_us_max: 'Handshake (max)',
  synack_us_avg: 'SYN → SYN/ACK (avg)', ack_us_avg: 'SYN/ACK → ACK (avg)',
  dns_responses: 'DNS responses', dns_rtt_us_avg: 'DNS response time (avg)', dns_rtt_us_max: 'DNS response time (max)',
};

/** Totals columns a top frame carries after the metric (dropped for alert evaluation). */
export const TOP_TOTAL_LABELS = { bytes: 'Bytes (total)', packets: 'Packets (total)', flows: 'Flows (total)' } as const;

/** Flow-frame fields: field name -> display name (flows.go). */
export const FLOW_FIELDS: Record<string, string> = {
  start: 'Start', end: 'End', node: 'Node', direction: 'Direction', source: 'Source', protocol: 'Protocol',
  destination: 'Destination', bytes_tx: 'Bytes sent', bytes_rx: 'Bytes received', packets_tx: 'Packets sent',
  packets_rx: 'Packets received', tcp_flags_src: 'Source TCP flags', tcp_flags_dst: 'Destination TCP flags',
  conn_state: 'Connection state', src_ip: 'Source IP', src_port: 'Source port', dst_ip: 'Destination IP',
  dst_port: 'Destination port', dst_domain: 'Domain', community_id: 'Community ID', flow_id: 'Flow ID',
  record_kind: 'Record', icmp_id: 'ICMP echo id', tcp_synack_us: 'SYN → SYN/ACK', tcp_ack_us: 'SYN/ACK → ACK',
  dns_rtt_us: 'DNS response time',
};
