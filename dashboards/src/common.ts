/**
 * What the Flowmesh dashboards share: template variables, units, the flow-log table, and a
 * grid layout that assigns panel ids and positions row by row (ids are stable because the
 * panel order in code is).
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as nodegraph from '@grafana/grafana-foundation-sdk/nodegraph';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DIMENSION_LABELS, FLOW_FIELDS, METRIC_LABELS, TOP_TOTAL_LABELS } from './frames';
import {
  FLOWMESH_UID, PLUGIN_ID, flowmeshDatasource, prometheusDatasource, q, type Filter, type FlowmeshQueryBuilder, type TopologyBy,
} from './query';

/** Units (Grafana unit ids): `bytes` is IEC (KiB, MiB), `count:` scales 1.2K with a suffix. */
export const UNITS = {
  bytes: 'bytes',
  bytesPerSecond: 'binBps',
  packets: 'count:pkts',
  packetsPerSecond: 'pps',
  flows: 'short',
  count: 'short',
  perSecond: 'ops',
  percent: 'percent',
  percentUnit: 'percentunit',
  seconds: 's',
  microseconds: 'µs',
  none: 'none',
} as const;

export const DASHBOARD_UIDS = {
  overview: 'flowmesh-overview',
  node: 'flowmesh-node',
  troubleshooting: 'flowmesh-troubleshooting',
  topology: 'flowmesh-topology',
} as const;

export const TAGS = ['flowmesh', 'flows'];

// ---- variables -----------------------------------------------------------------------

export const datasourceVariable = () =>
  new dashboard.DatasourceVariableBuilder('ds')
    .label('Data source')
    .type(PLUGIN_ID)
    .current({ text: 'Flowmesh', value: FLOWMESH_UID });

/**
 * Distinct values of one dimension, asked through the plugin's variable query (the agent's
 * `values` query kind). Refreshed when the time range changes.
 */
export const valuesVariable = (name: string, label: string, dimension: string, multi: boolean) => {
  const variable = new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(flowmeshDatasource)
    .query({ queryType: 'values', dimension })
    .definition(`values(${dimension})`)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalCaseInsensitiveAsc);
  return multi ? variable.multi(true).includeAll(true).current({ text: 'All', value: '$__all' }) : variable;
};

export const directionVariable = () =>
  new dashboard.CustomVariableBuilder('direction')
    .label('Direction')
    .values('inbound,outbound,forwarded')
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' });

export const adHocVariable = () =>
  new dashboard.AdHocVariableBuilder(AD_HOC_VARIABLE).label('Filters').datasource(flowmeshDatasource);

/** Filters every overview query carries; multi-value variables expand to `in` in the plugin. */
export const scopeFilters = (...names: ('node' | 'direction' | 'protocol')[]): Filter[] =>
  names.map((name) => ({ field: name, op: 'eq', value: `\${${name}}` }));

// ---- layout --------------------------------------------------------------------------

export interface Placed {
  panel: cog.Builder<dashboard.Panel>;
  w: number;
  h: number;
}
export interface Section {
  /** Row title; omit for panels above the first row. */
  row?: string;
  panels: Placed[];
}

type PositionedBuilder = cog.Builder<dashboard.Panel> & {
  id(id: number): unknown;
  gridPos(gridPos: dashboard.GridPos): unknown;
};

/**
 * Lays sections out top to bottom, panels left to right wrapping at 24 columns, and numbers
 * every panel and row from 1.
 */
export function layout(builder: dashboard.DashboardBuilder, sections: Section[]): dashboard.DashboardBuilder {
  let id = 1;
  let y = 0;
  for (const section of sections) {
    if (section.row) {
      builder.withRow(new dashboard.RowBuilder(section.row).id(id++).gridPos({ x: 0, y, w: 24, h: 1 }));
      y += 1;
    }
    let x = 0;
    let rowHeight = 0;
    for (const { panel, w, h } of section.panels) {
      if (x + w > 24) {
        y += rowHeight;
        x = 0;
        rowHeight = 0;
      }
      const positioned = panel as PositionedBuilder;
      positioned.id(id++);
      positioned.gridPos({ x, y, w, h });
      builder.withPanel(panel);
      x += w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return builder;
}

export const newDashboard = (uid: string, title: string, description: string) =>
  new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(TAGS)
    .editable()
    .time({ from: 'now-1h', to: 'now' })
    .refresh('1m')
    .timezone('browser')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(
      new dashboard.DashboardLinkBuilder('Flowmesh')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['flowmesh'])
        .asDropdown(true)
        .includeVars(true)
        .keepTime(true)
        .icon('external link')
        .tooltip('Other Flowmesh dashboards')
        .targetBlank(false)
        .url(''),
    );

// ---- flow table --------------------------------------------------------------------------

/** A column of a table of flow records: the plugin's flow-frame field, the header shown, its unit. */
export interface FlowColumn {
  field: keyof typeof FLOW_FIELDS;
  header: string;
  unit?: string;
}

/**
 * The flow log table's columns, in order: the plugin's flow-frame field (by display name)
 * and the header shown. Source and destination are "name (ip:port)" strings from the plugin.
 */
export const FLOW_COLUMNS: FlowColumn[] = [
  { field: 'start', header: 'Start' },
  { field: 'end', header: 'End' },
  { field: 'node', header: 'Node' },
  { field: 'interface', header: 'Interface' },
  { field: 'direction', header: 'Direction' },
  { field: 'source', header: 'Source' },
  { field: 'protocol', header: 'Protocol' },
  { field: 'dst_port', header: 'Port', unit: UNITS.none },
  { field: 'destination', header: 'Destination' },
  { field: 'peer_name', header: 'Routing peer' },
  { field: 'dst_domain', header: 'Domain' },
  { field: 'bytes_rx', header: 'Bytes down', unit: UNITS.bytes },
  { field: 'bytes_tx', header: 'Bytes up', unit: UNITS.bytes },
  { field: 'packets_rx', header: 'Packets down', unit: UNITS.packets },
  { field: 'packets_tx', header: 'Packets up', unit: UNITS.packets },
  { field: 'tcp_flags_src', header: 'Flags (src)' },
  { field: 'tcp_flags_dst', header: 'Flags (dst)' },
  { field: 'conn_state', header: 'State' },
  { field: 'src_ip', header: 'Source IP' },
  { field: 'dst_ip', header: 'Destination IP' },
];
/**
 * Flow-frame fields kept out of the table (still in Inspect > Data and the CSV export); the
 * live table (live.ts) shows the record kind and the handshake legs, the NAT table
 * (gateway.ts) the transit leg, the other side of the NAT and the link.
 */
export const FLOW_HIDDEN_FIELDS: (keyof typeof FLOW_FIELDS)[] = [
  'src_port', 'community_id', 'flow_id', 'record_kind', 'icmp_id', 'tcp_synack_us', 'tcp_ack_us', 'dns_rtt_us',
  'peer_key', 'transit', 'translated', 'link_id',
];

const nodeLink = {
  id: 'links',
  value: [{ title: 'Node detail for ${__value.raw}', url: `/d/${DASHBOARD_UIDS.node}?var-node=\${__value.raw}&\${__url_time_range}` }],
};

/** The ad-hoc filter variable every Flowmesh dashboard defines (adHocVariable). */
export const AD_HOC_VARIABLE = 'filters';

/**
 * A data link that filters the current dashboard by the clicked value: the same dashboard,
 * time range and variables, plus an ad-hoc filter `dimension = value` (Grafana's URL form
 * of an ad-hoc filter is `var-<name>=key|operator|value`, repeated per filter).
 */
export const filterLink = (dimension: string) => ({
  id: 'links',
  value: [
    {
      title: `Filter this dashboard: ${dimension} = \${__value.raw}`,
      url: `/d/\${__dashboard.uid}?\${__url_time_range}&\${__all_variables}&var-${AD_HOC_VARIABLE}=${dimension}|=|\${__value.raw}`,
    },
  ],
});

/** Address columns of a table get a link that filters the dashboard by the address. */
export const ADDRESS_DIMENSIONS = ['src_ip', 'dst_ip'] as const;

const CONN_STATE_MAPPINGS = [
  {
    type: 'value',
    options: {
      S0: { text: 'S0 no reply', color: 'orange', index: 0 },
      REJ: { text: 'REJ refused', color: 'red', index: 1 },
      RSTO: { text: 'RSTO reset by source', color: 'yellow', index: 2 },
      RSTR: { text: 'RSTR reset by destination', color: 'yellow', index: 3 },
      RSTOS0: { text: 'RSTOS0 SYN then reset', color: 'orange', index: 4 },
      RSTRH: { text: 'RSTRH reset, no SYN seen', color: 'orange', index: 5 },
      SF: { text: 'SF closed', color: 'green', index: 6 },
      S1: { text: 'S1 established', color: 'green', index: 7 },
    },
  },
];

/** The State column's cells: Zeek conn_state codes spelled out and coloured. */
export const CONN_STATE_CELLS = [
  { id: 'mappings', value: CONN_STATE_MAPPINGS },
  { id: 'custom.cellOptions', value: { type: 'color-text' } },
];

/** Flow-frame fields that are not among `columns`, in flow-frame order: the ones a table hides. */
export const fieldsBesides = (columns: FlowColumn[]): (keyof typeof FLOW_FIELDS)[] => {
  const shown = new Set(columns.map((c) => c.field));
  return (Object.keys(FLOW_FIELDS) as (keyof typeof FLOW_FIELDS)[]).filter((f) => !shown.has(f));
};

export interface FlowRecordsTable {
  title: string;
  description: string;
  target: FlowmeshQueryBuilder;
  /** A relative range the panel keeps whatever the dashboard's (e.g. '5m'). */
  timeFrom?: string;
  columns: FlowColumn[];
  hidden: (keyof typeof FLOW_FIELDS)[];
  /** The header of the column sorted on, descending. */
  sortBy: string;
}

/**
 * A table of flow records: `columns` in order, under their headers and with their units,
 * `hidden` left out, sorted by one column descending.
 */
export function flowRecordsTable({ title, description, target, timeFrom, columns, hidden, sortBy }: FlowRecordsTable) {
  const displayName = (field: keyof typeof FLOW_FIELDS) => FLOW_FIELDS[field];
  const panel = new table.PanelBuilder().title(title).description(description).datasource(flowmeshDatasource).withTarget(target);
  if (timeFrom) panel.timeFrom(timeFrom);
  panel
    .unit(UNITS.none)
    .filterable(true)
    .cellHeight(common.TableCellHeight.Sm)
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(sortBy).desc(true)])
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: Object.fromEntries(hidden.map((f) => [displayName(f), true])),
        indexByName: Object.fromEntries(columns.map((c, i) => [displayName(c.field), i])),
        renameByName: Object.fromEntries(
          columns.filter((c) => c.header !== displayName(c.field)).map((c) => [displayName(c.field), c.header]),
        ),
      },
    });
  // Overrides match the headers (organize runs before field config is applied).
  for (const column of columns.filter((c) => c.unit)) {
    panel.overrideByName(column.header, [{ id: 'unit', value: column.unit }]);
  }
  return panel;
}

/** The flow log table: one row per flow record, columns per FLOW_COLUMNS. */
export function flowTable(title: string, description: string, filters: Filter[], limit = 500) {
  const panel = flowRecordsTable({
    title,
    description,
    target: q.flows(limit).filters(filters),
    columns: FLOW_COLUMNS,
    hidden: FLOW_HIDDEN_FIELDS,
    sortBy: 'Start',
  });
  for (const header of ['Bytes down', 'Bytes up']) {
    panel.overrideByName(header, [
      { id: 'custom.cellOptions', value: { type: 'gauge', mode: 'basic', valueDisplayMode: 'text' } },
    ]);
  }
  panel.overrideByName('Node', [nodeLink]);
  for (const dimension of ADDRESS_DIMENSIONS) panel.overrideByName(FLOW_FIELDS[dimension], [filterLink(dimension)]);
  panel.overrideByName('State', CONN_STATE_CELLS);
  return panel;
}

/**
 * A top-N table: the group columns, the metric with an inline bar gauge, and the
 * connection count (or bytes, when ranking by connections) from the plugin's totals.
 */
export function topTable(
  title: string,
  description: string,
  groupBy: string[],
  metric: 'bytes' | 'packets' | 'flows',
  filters: Filter[],
  limit = 10,
) {
  const unit = metric === 'bytes' ? UNITS.bytes : metric === 'packets' ? UNITS.packets : UNITS.flows;
  const keptTotal = metric === 'flows' ? 'bytes' : 'flows';
  const hiddenTotals = (Object.keys(TOP_TOTAL_LABELS) as (keyof typeof TOP_TOTAL_LABELS)[]).filter((t) => t !== keptTotal);
  const panel = new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.top(groupBy, metric, limit).filters(filters))
    .unit(unit)
    .cellHeight(common.TableCellHeight.Sm)
    .withTransformation({
      id: 'organize',
      options: { excludeByName: Object.fromEntries(hiddenTotals.map((t) => [TOP_TOTAL_LABELS[t], true])) },
    })
    .overrideByName(METRIC_LABELS[metric], [
      { id: 'custom.cellOptions', value: { type: 'gauge', mode: 'lcd', valueDisplayMode: 'text' } },
    ])
    .overrideByName(TOP_TOTAL_LABELS[keptTotal], [
      { id: 'unit', value: keptTotal === 'bytes' ? UNITS.bytes : UNITS.flows },
      { id: 'displayName', value: keptTotal === 'bytes' ? 'Bytes' : 'Connections' },
    ]);
  if (groupBy.includes('node')) {
    panel.overrideByName(DIMENSION_LABELS.node, [nodeLink]);
  }
  for (const dimension of ADDRESS_DIMENSIONS.filter((d) => groupBy.includes(d))) {
    panel.overrideByName(DIMENSION_LABELS[dimension], [filterLink(dimension)]);
  }
  return panel;
}

// ---- time series and stats -------------------------------------------------------------

/** A legend listed below the graph, with these calculations per series. */
export const listLegend = (calcs: string[]) =>
  new common.VizLegendOptionsBuilder()
    .displayMode(common.LegendDisplayMode.List)
    .placement(common.LegendPlacement.Bottom)
    .showLegend(true)
    .calcs(calcs);

/** Plugin time series drawn as stacked bars; `timeFrom` keeps a relative range whatever the dashboard's. */
export function stackedBars(title: string, description: string, target: FlowmeshQueryBuilder, unit: string, timeFrom?: string) {
  const panel = new timeseries.PanelBuilder().title(title).description(description).datasource(flowmeshDatasource).withTarget(target);
  if (timeFrom) panel.timeFrom(timeFrom);
  return panel
    .unit(unit)
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
}

/** Bytes/packets/flows per time bucket from the plugin's timeseries query, stacked. */
export function trafficSeries(
  title: string,
  description: string,
  metric: 'bytes' | 'packets' | 'flows',
  splitBy: string[] | undefined,
  filters: Filter[],
) {
  const unit = metric === 'bytes' ? UNITS.bytes : metric === 'packets' ? UNITS.packets : UNITS.flows;
  return stackedBars(title, description, q.timeseries(metric, splitBy, 10).filters(filters), unit)
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Right)
        .showLegend(true)
        .calcs(['sum', 'max']),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending));
}

/** A big number summed over the time range, with a sparkline. */
export function totalStat(title: string, description: string, metric: 'bytes' | 'packets' | 'flows', filters: Filter[]) {
  const unit = metric === 'bytes' ? UNITS.bytes : metric === 'packets' ? UNITS.packets : UNITS.flows;
  return new stat.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.timeseries(metric).filters(filters))
    .unit(unit)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['sum']).values(false))
    .graphMode(common.BigValueGraphMode.Area)
    .colorMode(common.BigValueColorMode.Value)
    .textMode(common.BigValueTextMode.Value)
    .thresholds(
      new dashboard.ThresholdsConfigBuilder()
        .mode(dashboard.ThresholdsMode.Absolute)
        .steps([{ value: null as unknown as number, color: 'blue' }]),
    );
}

/** A Prometheus time series (capture health); the legend names the series. */
export function promSeries(title: string, description: string, unit: string, exprs: [string, string][]) {
  const panel = new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(prometheusDatasource)
    .unit(unit)
    .fillOpacity(10)
    .legend(listLegend([]));
  exprs.forEach(([expr, legend], i) => panel.withTarget(promTarget(String.fromCharCode(65 + i), expr, legend)));
  return panel;
}

export const promTarget = (refId: string, expr: string, legend: string) =>
  new prometheus.DataqueryBuilder().refId(refId).datasource(prometheusDatasource).expr(expr).legendFormat(legend).range();

/**
 * The mesh as a node graph from the plugin's topology query: endpoints (or routing peers, by
 * `by`) as nodes, the 50 busiest links as edges weighted by bytes, connections counted once.
 */
export const meshGraph = (title: string, description: string, by: TopologyBy, filters: Filter[]) =>
  new nodegraph.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.topology('bytes', by, 50).dedupe('connection').filters(filters))
    .unit(UNITS.bytes)
    .zoomMode(nodegraph.ZoomMode.Cooperative);
