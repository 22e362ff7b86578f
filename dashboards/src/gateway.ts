/**
 * Panels about WireGuard routing peers and gateways (issue 12): which peer carried a node's
 * traffic, both legs of connections a gateway translated, and the mesh drawn through its
 * gateways. Kept apart from the dashboards that show them (one line each there).
 */
import { UNITS, fieldsBesides, flowRecordsTable, meshGraph, topTable, type FlowColumn, type Section } from './common';
import { q, type Filter } from './query';

/** Columns of the NAT table, in order: flow-frame field and header. */
const NAT_COLUMNS: FlowColumn[] = [
  { field: 'start', header: 'Start' },
  { field: 'interface', header: 'Interface' },
  { field: 'transit', header: 'Leg' },
  { field: 'protocol', header: 'Protocol' },
  { field: 'source', header: 'Source' },
  { field: 'destination', header: 'Destination' },
  { field: 'translated', header: 'Other side of NAT' },
  { field: 'peer_name', header: 'Routing peer' },
  { field: 'bytes_tx', header: 'Bytes up', unit: UNITS.bytes },
  { field: 'bytes_rx', header: 'Bytes down', unit: UNITS.bytes },
  { field: 'link_id', header: 'Link ID' },
];

/**
 * Both legs of the connections this node translated: each pre-NAT record (tunnel side,
 * ingress) and post-NAT record (uplink side, egress) with the tuple on the other side.
 * Dedupe off: both legs are the point here.
 */
function natTable(filters: Filter[]) {
  return flowRecordsTable({
    title: 'Across the NAT: both legs of translated connections',
    description:
      'Connections this node forwarded through its NAT (masquerade), linked from the kernel\'s connection tracking: the ' +
      'ingress leg (as it entered, e.g. on the tunnel) and the egress leg (as it left, e.g. on the uplink), each with the ' +
      'tuple on the other side. Filter the flow log by field "connection" = a Link ID to follow one connection.',
    target: q.flows(500).dedupe('none').filters([...filters, { field: 'link_id', op: 'neq', value: '' }]),
    columns: NAT_COLUMNS,
    hidden: fieldsBesides(NAT_COLUMNS),
    sortBy: 'Start',
  });
}

/** A "Gateway" row for one node: its traffic by routing peer, and its NAT legs. */
export function gatewaySection(node: Filter[]): Section {
  return {
    row: 'Routing peers and NAT',
    panels: [
      {
        panel: topTable(
          'Traffic by routing peer',
          'The WireGuard peer whose allowed IPs routed the traffic: on a user device the gateways it reaches the LAN and the ' +
            'internet through, on a gateway the peers whose traffic it forwards.',
          ['peer_name', 'peer_key'],
          'bytes',
          [...node, { field: 'peer_key', op: 'neq', value: '' }],
        ),
        w: 8,
        h: 10,
      },
      { panel: natTable(node), w: 16, h: 10 },
    ],
  };
}

/** The mesh through its gateways: source -> routing peer -> destination, by name. */
export function gatewayGraphSection(scope: Filter[]): Section {
  const graph = meshGraph(
    'Through gateways',
    'Who exits or reaches a LAN through which gateway: sources by name, destinations by name or else by address, a routing ' +
      'peer between them when it is neither end (a gateway), edges weighted by bytes (the plugin formats the stats, so the ' +
      'panel needs no units). Connections count once (connection de-duplication), also across a gateway\'s NAT.',
    'peer',
    scope,
  );
  return { row: 'Through gateways', panels: [{ panel: graph, w: 24, h: 14 }] };
}
