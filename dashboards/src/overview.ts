/** "Flowmesh / Flows overview": network-wide totals, traffic over time, top talkers, newest flows. */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import {
  DASHBOARD_UIDS, UNITS, adHocVariable, datasourceVariable, directionVariable, flowTable, layout, newDashboard,
  scopeFilters, topTable, totalStat, trafficSeries, valuesVariable,
} from './common';
import { METRIC_LABELS } from './frames';
import { flowmeshDatasource, q } from './query';

export function overviewDashboard() {
  const scope = scopeFilters('node', 'direction', 'protocol');
  const builder = newDashboard(
    DASHBOARD_UIDS.overview,
    'Flowmesh / Flows overview',
    'Every connection the Flowmesh agents saw: totals, traffic over time, top talkers and the newest flow records.',
  )
    .withVariable(datasourceVariable())
    .withVariable(valuesVariable('node', 'Node', 'node', true))
    .withVariable(directionVariable())
    .withVariable(valuesVariable('protocol', 'Protocol', 'protocol', true))
    .withVariable(adHocVariable());

  const activeAgents = new stat.PanelBuilder()
    .title('Reporting nodes')
    .description('Nodes whose agents reported at least one flow in the time range (rows of a top query by node, counted).')
    .datasource(flowmeshDatasource)
    .withTarget(q.top(['node'], 'flows', 0).filters(scope))
    .unit(UNITS.count)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['count']).fields(`/^${METRIC_LABELS.flows}$/`).values(false))
    .graphMode(common.BigValueGraphMode.None)
    .colorMode(common.BigValueColorMode.Value)
    .textMode(common.BigValueTextMode.Value);

  return layout(builder, [
    {
      panels: [
        { panel: totalStat('Total traffic', 'IP-layer bytes (headers + payload) both ways, summed over the time range.', 'bytes', scope), w: 6, h: 4 },
        { panel: totalStat('Connections', 'Connections started in the time range (first record of each flow).', 'flows', scope), w: 6, h: 4 },
        { panel: totalStat('Packets', 'Packets both ways in the time range.', 'packets', scope), w: 6, h: 4 },
        { panel: activeAgents, w: 6, h: 4 },
      ],
    },
    {
      row: 'Traffic over time',
      panels: [
        {
          panel: trafficSeries('Traffic by direction', 'Bytes per interval, by direction as the reporting node saw it.', 'bytes', ['direction'], scope),
          w: 12,
          h: 9,
        },
        {
          panel: trafficSeries('Traffic by protocol', 'Bytes per interval by transport protocol (top 10, the rest as other).', 'bytes', ['protocol'], scope),
          w: 12,
          h: 9,
        },
        {
          panel: trafficSeries('New connections by direction', 'Connections started per interval.', 'flows', ['direction'], scope),
          w: 24,
          h: 7,
        },
      ],
    },
    {
      row: 'Top talkers',
      panels: [
        { panel: topTable('Top sources', 'Initiators sending and receiving the most bytes.', ['src_ip', 'src_name'], 'bytes', scope), w: 12, h: 9 },
        { panel: topTable('Top destinations', 'Destinations with the most bytes.', ['dst_ip', 'dst_name', 'dst_domain'], 'bytes', scope), w: 12, h: 9 },
        { panel: topTable('Top pairs', 'Source and destination pairs with the most bytes.', ['src_name', 'src_ip', 'dst_name', 'dst_ip'], 'bytes', scope), w: 12, h: 9 },
        { panel: topTable('Top ports', 'Destination ports by connections started.', ['protocol', 'dst_port'], 'flows', scope), w: 12, h: 9 },
      ],
    },
    {
      row: 'Flow log',
      panels: [
        {
          panel: flowTable(
            'Newest flows',
            'The newest 500 flow records (one row per reporting period of a connection; long connections emit interim records). ' +
              'Bytes up = sent by the source, bytes down = received by it. Click a node to open its detail dashboard.',
            scope,
          ),
          w: 24,
          h: 14,
        },
      ],
    },
  ]);
}
