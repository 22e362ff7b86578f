/**
 * "Flowmesh / Troubleshooting": connections that failed (no handshake, refused, reset),
 * connections that never crossed the gateway, and traffic through egress routes.
 */
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DASHBOARD_UIDS, UNITS, adHocVariable, datasourceVariable, filterLink, flowTable, layout, newDashboard, scopeFilters,
  topTable, trafficSeries, valuesVariable,
} from './common';
import { DIMENSION_LABELS } from './frames';
import { latencySection } from './latency';
import { flowmeshDatasource, q, type Filter } from './query';

export const FAILED_STATES = {
  noHandshake: ['S0'],
  refused: ['REJ'],
  reset: ['RSTO', 'RSTR', 'RSTOS0', 'RSTRH'],
};

/**
 * Connections by Community ID with the nodes that reported them, keeping those with a single
 * reporter (group and filter run in Grafana transformations over a top query).
 */
function reportersTable(title: string, description: string, filters: Filter[]) {
  return new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.top(['community_id', 'node', 'src_ip', 'dst_ip'], 'flows', 1000).dedupe('none').filters(filters))
    .unit(UNITS.count)
    .cellHeight(common.TableCellHeight.Sm)
    .withTransformation({
      id: 'groupBy',
      options: {
        fields: {
          [DIMENSION_LABELS.community_id]: { operation: 'groupby' },
          [DIMENSION_LABELS.src_ip]: { operation: 'groupby' },
          [DIMENSION_LABELS.dst_ip]: { operation: 'groupby' },
          [DIMENSION_LABELS.node]: { operation: 'aggregate', aggregations: ['distinctCount', 'allValues'] },
        },
      },
    })
    .withTransformation({
      id: 'filterByValue',
      options: {
        type: 'include',
        match: 'all',
        filters: [{ fieldName: `${DIMENSION_LABELS.node} (distinctCount)`, config: { id: 'lower', options: { value: 2 } } }],
      },
    })
    .withTransformation({
      id: 'organize',
      options: {
        renameByName: { [`${DIMENSION_LABELS.node} (distinctCount)`]: 'Reporters', [`${DIMENSION_LABELS.node} (allValues)`]: 'Reported by' },
      },
    })
    .overrideByName(DIMENSION_LABELS.src_ip, [filterLink('src_ip')])
    .overrideByName(DIMENSION_LABELS.dst_ip, [filterLink('dst_ip')]);
}

export function troubleshootingDashboard() {
  const scope = scopeFilters('node');
  const tcp: Filter[] = [...scope, { field: 'protocol', op: 'eq', value: 'tcp' }];
  const states = (values: string[]): Filter[] => [...tcp, { field: 'conn_state', op: 'in', values }];
  const egress: Filter[] = [...scope, { field: 'dst_type', op: 'eq', value: 'egress' }];

  const builder = newDashboard(
    DASHBOARD_UIDS.troubleshooting,
    'Flowmesh / Troubleshooting',
    'Failed handshakes, refused and reset connections, connections that did not cross the gateway, and egress-route traffic.',
  )
    .withVariable(datasourceVariable())
    .withVariable(valuesVariable('node', 'Node', 'node', true))
    .withVariable(valuesVariable('source', 'Source node', 'node', false))
    .withVariable(valuesVariable('gateway', 'Gateway node', 'node', false))
    .withVariable(adHocVariable());

  const oneSided = reportersTable(
    'Connections reported by one agent only',
    'Method: every agent reports the connections it sees, and all reports of one connection share its Community ID ' +
      '(a hash of protocol, addresses and ports that is identical at both ends). The query asks for connections by ' +
      '(community_id, node) without de-duplication; the panel groups the rows by community_id, counts the distinct reporting ' +
      'nodes and keeps connections with a single reporter. Only connections between inventory nodes (src_type and dst_type = ' +
      'node) are considered, because both ends of those run an agent: a single reporter means the packets left one end and ' +
      'never arrived at the other (tunnel, route or firewall problem), or the other agent was down. Limited to the 1000 ' +
      'biggest (connection, node) groups of the range.',
    [
      { field: 'src_type', op: 'eq', value: 'node' },
      { field: 'dst_type', op: 'eq', value: 'node' },
    ],
  );
  const gatewayMissed = reportersTable(
    'Seen by $source or $gateway, not both',
    'Same method as the panel above, restricted to two agents: the sending node ($source) and the gateway or routing peer its ' +
      'traffic should cross ($gateway). Each row is a connection only one of the two reported; "Reported by" names the one ' +
      'that saw it. A connection the source reported but the gateway did not never crossed the tunnel.',
    [{ field: 'node', op: 'in', values: ['${source}', '${gateway}'] }],
  );

  return layout(builder, [
    {
      row: 'Handshakes that never completed (TCP S0)',
      panels: [
        {
          panel: trafficSeries('Unanswered SYNs over time', 'TCP connection attempts with no reply (conn_state S0): a firewall, a missing route or a down host drops them.', 'flows', ['dst_port'], states(FAILED_STATES.noHandshake)),
          w: 12,
          h: 8,
        },
        {
          panel: topTable('Unanswered destinations', 'Where the unanswered SYNs went.', ['dst_name', 'dst_ip', 'dst_port'], 'flows', states(FAILED_STATES.noHandshake)),
          w: 12,
          h: 8,
        },
        {
          panel: flowTable('Unanswered attempts', 'The newest TCP flows whose handshake never completed (SYN only).', states(FAILED_STATES.noHandshake), 200),
          w: 24,
          h: 8,
        },
      ],
    },
    {
      row: 'Refused (TCP REJ)',
      panels: [
        {
          panel: topTable('Refused destinations', 'Destinations that answered a SYN with RST: the host is up but nothing listens on the port, or a firewall rejects.', ['dst_name', 'dst_ip', 'dst_port'], 'flows', states(FAILED_STATES.refused)),
          w: 12,
          h: 8,
        },
        {
          panel: topTable('Who gets refused', 'Sources of refused connections; one source refused on many ports looks like a port scan.', ['src_name', 'src_ip'], 'flows', states(FAILED_STATES.refused)),
          w: 12,
          h: 8,
        },
      ],
    },
    {
      row: 'Resets',
      panels: [
        {
          panel: trafficSeries('Reset connections', 'Established connections torn down by RST (RSTO: by the source, RSTR: by the destination), by state.', 'flows', ['conn_state'], states(FAILED_STATES.reset)),
          w: 12,
          h: 8,
        },
        {
          panel: topTable('Reset peers', 'Pairs whose connections end in RST most often, by destination port (the state per connection is in the chart on the left).', ['src_name', 'src_ip', 'dst_ip', 'dst_port'], 'flows', states(FAILED_STATES.reset)),
          w: 12,
          h: 8,
        },
      ],
    },
    latencySection(scope),
    {
      row: 'Seen at one end only',
      panels: [
        { panel: oneSided, w: 24, h: 9 },
        { panel: gatewayMissed, w: 24, h: 8 },
      ],
    },
    {
      row: 'Egress routes',
      panels: [
        {
          panel: trafficSeries('Traffic via egress routes', 'Bytes per interval to destinations the inventory marks as egress routes (dst_type egress), by route.', 'bytes', ['dst_name'], egress),
          w: 12,
          h: 8,
        },
        {
          panel: topTable('Top egress users', 'Who sends the most through egress routes, and to which route and address.', ['src_name', 'src_ip', 'dst_name', 'dst_ip'], 'bytes', egress),
          w: 12,
          h: 8,
        },
      ],
    },
  ]);
}
