/**
 * The live view of the node dashboard: connections still open on the node's agent (the
 * plugin's includeOpen: open flows answer within seconds, counted once when their records
 * land) in a table, and the node's traffic of the last minutes at a fine interval. The
 * panels look at the last minutes whatever the dashboard's range; set the dashboard's
 * refresh to 5s or 10s to watch them move.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { CONN_STATE_MAPPINGS, UNITS, type Section } from './common';
import { FLOW_FIELDS } from './frames';
import { flowmeshDatasource, q, type Filter } from './query';

/** Columns of the open-connections table: flow-frame field, header, unit. */
const LIVE_COLUMNS: { field: keyof typeof FLOW_FIELDS; header: string; unit?: string }[] = [
  { field: 'start', header: 'Since' },
  { field: 'end', header: 'Last packet' },
  { field: 'record_kind', header: 'Record' },
  { field: 'direction', header: 'Direction' },
  { field: 'source', header: 'Source' },
  { field: 'protocol', header: 'Protocol' },
  { field: 'destination', header: 'Destination' },
  { field: 'dst_domain', header: 'Domain' },
  { field: 'bytes_rx', header: 'Bytes down', unit: UNITS.bytes },
  { field: 'bytes_tx', header: 'Bytes up', unit: UNITS.bytes },
  { field: 'conn_state', header: 'State' },
  { field: 'tcp_synack_us', header: 'SYN → SYN/ACK', unit: UNITS.microseconds },
  { field: 'tcp_ack_us', header: 'SYN/ACK → ACK', unit: UNITS.microseconds },
];

/** Connections open right now (record kind open): counters of their current period so far. */
function openConnectionsTable(filters: Filter[]) {
  const displayName = (field: keyof typeof FLOW_FIELDS) => FLOW_FIELDS[field];
  const shown = new Set(LIVE_COLUMNS.map((c) => c.field));
  const panel = new table.PanelBuilder()
    .title('Open connections right now')
    .description(
      'Connections still open in the agent\'s flow table, within seconds of their first packet, with the counters of their ' +
        'current record period (since the last interim record). A connection leaves this table when its record is written; ' +
        'it is never counted twice. Last 5 minutes, whatever the dashboard\'s range.',
    )
    .datasource(flowmeshDatasource)
    .withTarget(q.flows(500).includeOpen().filters([...filters, { field: 'record_kind', op: 'eq', value: 'open' }]))
    .timeFrom('5m')
    .unit(UNITS.none)
    .filterable(true)
    .cellHeight(common.TableCellHeight.Sm)
    .sortBy([new common.TableSortByFieldStateBuilder().displayName('Last packet').desc(true)])
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: Object.fromEntries(
          (Object.keys(FLOW_FIELDS) as (keyof typeof FLOW_FIELDS)[]).filter((f) => !shown.has(f)).map((f) => [displayName(f), true]),
        ),
        indexByName: Object.fromEntries(LIVE_COLUMNS.map((c, i) => [displayName(c.field), i])),
        renameByName: Object.fromEntries(
          LIVE_COLUMNS.filter((c) => c.header !== displayName(c.field)).map((c) => [displayName(c.field), c.header]),
        ),
      },
    });
  for (const column of LIVE_COLUMNS.filter((c) => c.unit)) panel.overrideByName(column.header, [{ id: 'unit', value: column.unit }]);
  panel.overrideByName('State', [
    { id: 'mappings', value: CONN_STATE_MAPPINGS },
    { id: 'custom.cellOptions', value: { type: 'color-text' } },
  ]);
  return panel;
}

/** Bytes of the last 15 minutes per 10 s by direction, open connections included. */
function trafficNowSeries(filters: Filter[]) {
  return new timeseries.PanelBuilder()
    .title('Traffic now (open connections included)')
    .description(
      'Bytes per 10 seconds by direction over the last 15 minutes, counting connections still open (their packets so far) as ' +
        'well as recorded ones, each packet once. A record is attributed to the start of its period.',
    )
    .datasource(flowmeshDatasource)
    .withTarget(q.timeseries('bytes', ['direction'], 10).interval('10s').includeOpen().filters(filters))
    .timeFrom('15m')
    .unit(UNITS.bytes)
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true)
        .calcs([]),
    );
}

/** The node dashboard's live row. */
export function liveSection(filters: Filter[]): Section {
  return {
    row: 'Live (open connections included)',
    panels: [
      { panel: openConnectionsTable(filters), w: 16, h: 9 },
      { panel: trafficNowSeries(filters), w: 8, h: 9 },
    ],
  };
}
