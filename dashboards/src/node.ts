/** "Flowmesh / Node detail": one node's traffic, peers, flows, and its agent's capture health. */
import {
  DASHBOARD_UIDS, UNITS, adHocVariable, datasourceVariable, directionVariable, flowTable, layout, newDashboard,
  promSeries, promTarget, topTable, totalStat, trafficSeries, valuesVariable,
} from './common';
import { liveSection } from './live';
import type { Filter } from './query';

const NODE = '{node="$node"}';

export function nodeDashboard() {
  const node: Filter[] = [{ field: 'node', op: 'eq', value: '${node}' }];
  const scoped: Filter[] = [...node, { field: 'direction', op: 'eq', value: '${direction}' }];
  const outbound: Filter[] = [...node, { field: 'direction', op: 'eq', value: 'outbound' }];
  const inbound: Filter[] = [...node, { field: 'direction', op: 'eq', value: 'inbound' }];

  const builder = newDashboard(
    DASHBOARD_UIDS.node,
    'Flowmesh / Node detail',
    "One node as its agent sees it: inbound vs outbound traffic, its peers, its flow log, and the agent's capture health.",
  )
    .withVariable(datasourceVariable())
    .withVariable(valuesVariable('node', 'Node', 'node', false))
    .withVariable(directionVariable())
    .withVariable(adHocVariable());

  return layout(builder, [
    {
      panels: [
        { panel: totalStat('Inbound', 'Bytes of connections initiated towards this node.', 'bytes', inbound), w: 6, h: 4 },
        { panel: totalStat('Outbound', 'Bytes of connections this node initiated.', 'bytes', outbound), w: 6, h: 4 },
        {
          panel: totalStat('Forwarded', 'Bytes this node relayed for others (gateways, routing peers).', 'bytes', [
            ...node,
            { field: 'direction', op: 'eq', value: 'forwarded' },
          ]),
          w: 6,
          h: 4,
        },
        { panel: totalStat('Connections', 'Connections started in the time range.', 'flows', scoped), w: 6, h: 4 },
      ],
    },
    liveSection(scoped),
    {
      row: 'Traffic',
      panels: [
        { panel: trafficSeries('Inbound vs outbound', 'Bytes per interval by direction.', 'bytes', ['direction'], scoped), w: 12, h: 8 },
        { panel: trafficSeries('By protocol', 'Bytes per interval by protocol.', 'bytes', ['protocol'], scoped), w: 12, h: 8 },
      ],
    },
    {
      row: 'Peers',
      panels: [
        {
          panel: topTable('Destinations this node talks to', 'Top destinations of connections the node initiated (outbound).', ['dst_name', 'dst_ip', 'dst_port'], 'bytes', outbound),
          w: 12,
          h: 9,
        },
        {
          panel: topTable('Sources talking to this node', 'Top initiators of connections towards the node (inbound).', ['src_name', 'src_ip', 'dst_port'], 'bytes', inbound),
          w: 12,
          h: 9,
        },
      ],
    },
    {
      row: 'Flow log',
      panels: [
        { panel: flowTable('Flows of this node', 'The newest 500 flow records reported by this node.', scoped), w: 24, h: 12 },
      ],
    },
    {
      row: 'Capture health (Prometheus)',
      panels: [
        {
          panel: promSeries('Packets captured and dropped', 'Captured packets per second, and packets the kernel or the interface dropped before the agent saw them. Any drop means flows are undercounted.', UNITS.packetsPerSecond, [
            [`sum by (interface) (rate(flowmesh_capture_packets_total${NODE}[$__rate_interval]))`, 'captured {{interface}}'],
            [`sum by (interface) (rate(flowmesh_capture_kernel_drops_total${NODE}[$__rate_interval]))`, 'kernel drops {{interface}}'],
            [`sum by (interface) (rate(flowmesh_capture_interface_drops_total${NODE}[$__rate_interval]))`, 'interface drops {{interface}}'],
          ]),
          w: 12,
          h: 8,
        },
        {
          panel: promSeries('Decode errors', 'Packets the agent could not decode, by reason (malformed or unsupported).', UNITS.packetsPerSecond, [
            [`sum by (reason) (rate(flowmesh_decode_errors_total${NODE}[$__rate_interval]))`, '{{reason}}'],
          ]),
          w: 12,
          h: 8,
        },
        {
          panel: promSeries('Flow table', 'Flows held in memory, and evictions (flows ended early because the table was full).', UNITS.count, [
            [`sum(flowmesh_flow_table_flows${NODE})`, 'flows in table'],
            [`sum(rate(flowmesh_flow_table_evictions_total${NODE}[$__rate_interval]))`, 'evictions/s'],
          ]),
          w: 8,
          h: 8,
        },
        {
          panel: promSeries('Store backlog', 'Records waiting to be written to DuckDB, and records dropped because the backlog was full.', UNITS.count, [
            [`sum(flowmesh_store_backlog_records${NODE})`, 'backlog records'],
            [`sum(rate(flowmesh_store_backlog_dropped_total${NODE}[$__rate_interval]))`, 'dropped/s'],
            [`sum by (kind) (rate(flowmesh_store_errors_total${NODE}[$__rate_interval]))`, 'errors/s {{kind}}'],
          ]),
          w: 8,
          h: 8,
        },
        {
          panel: promSeries('Store writes', 'Rows written per second and the 99th percentile batch write time.', UNITS.perSecond, [
            [`sum(rate(flowmesh_store_rows_written_total${NODE}[$__rate_interval]))`, 'rows/s'],
          ]).overrideByName('p99 batch', [{ id: 'unit', value: UNITS.seconds }]).withTarget(
            promTarget('B', `histogram_quantile(0.99, sum by (le) (rate(flowmesh_store_batch_seconds_bucket${NODE}[$__rate_interval])))`, 'p99 batch'),
          ),
          w: 8,
          h: 8,
        },
      ],
    },
  ]);
}
