/** "Flowmesh / Who talks to whom": the mesh as a node graph, plus the busiest links as a table. */
import {
  DASHBOARD_UIDS, adHocVariable, datasourceVariable, directionVariable, layout, meshGraph, newDashboard, scopeFilters,
  topTable, valuesVariable,
} from './common';
import { gatewayGraphSection } from './gateway';

export function topologyDashboard() {
  const scope = scopeFilters('node', 'direction', 'protocol');
  const builder = newDashboard(
    DASHBOARD_UIDS.topology,
    'Flowmesh / Who talks to whom',
    'The mesh as a graph: endpoints are nodes, connections between them are edges weighted by bytes.',
  )
    .withVariable(datasourceVariable())
    .withVariable(valuesVariable('node', 'Reporting node', 'node', true))
    .withVariable(directionVariable())
    .withVariable(valuesVariable('protocol', 'Protocol', 'protocol', true))
    .withVariable(adHocVariable());

  const graph = meshGraph(
    'Who talks to whom',
    'Each circle is an endpoint (its inventory name, or its address when the inventory does not name it) with the bytes it ' +
      'sent and received; each arrow goes from initiator to destination, its thickness and main stat are bytes both ways, its ' +
      'second stat connections (the plugin formats the stats, so the panel needs no units). ' +
      'Connections reported by several agents count once (connection de-duplication). The 50 busiest pairs are drawn.',
    'name',
    scope,
  );

  return layout(builder, [
    { panels: [{ panel: graph, w: 24, h: 18 }] },
    gatewayGraphSection(scope),
    {
      row: 'Busiest links',
      panels: [
        {
          panel: topTable('Busiest pairs (bytes)', 'The pairs behind the biggest edges.', ['src_name', 'src_ip', 'dst_name', 'dst_ip'], 'bytes', scope, 20),
          w: 12,
          h: 10,
        },
        {
          panel: topTable('Busiest pairs (connections)', 'Pairs by connections started: chatty but small flows show here.', ['src_name', 'src_ip', 'dst_name', 'dst_ip'], 'flows', scope, 20),
          w: 12,
          h: 10,
        },
      ],
    },
  ]);
}
