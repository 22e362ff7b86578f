/**
 * What the Flowmesh dashboards share: template variables, units, the flow-log table, and a
 * grid layout that assigns panel ids and positions row by row (ids are stable because the
 * panel order in code is).
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { FLOWMESH_UID, PLUGIN_ID, flowmeshDatasource, prometheusDatasource, q, type Filter } from './query';

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
  new dashboard.AdHocVariableBuilder('filters').label('Filters').datasource(flowmeshDatasource);

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

/**
 * Column order and headers of the flow log table, by the plugin's flow-frame field names
 * (plugin/pkg/frames: one field per FlowRecord column, times as time fields).
 */
export const FLOW_COLUMNS: { field: string; header: string; unit?: string }[] = [
  { field: 'start', header: 'Start' },
  { field: 'end', header: 'End' },
  { field: 'node', header: 'Node' },
  { field: 'direction', header: 'Direction' },
  { field: 'src_name', header: 'Source' },
  { field: 'src_type', header: 'Src type' },
  { field: 'src_ip', header: 'Source IP' },
  { field: 'src_port', header: 'Src port', unit: UNITS.none },
  { field: 'protocol', header: 'Protocol' },
  { field: 'dst_port', header: 'Port', unit: UNITS.none },
  { field: 'dst_name', header: 'Destination' },
  { field: 'dst_type', header: 'Dst type' },
  { field: 'dst_ip', header: 'Destination IP' },
  { field: 'dst_domain', header: 'Domain' },
  { field: 'bytes_rx', header: 'Bytes down', unit: UNITS.bytes },
  { field: 'bytes_tx', header: 'Bytes up', unit: UNITS.bytes },
  { field: 'packets_tx', header: 'Pkts up', unit: UNITS.packets },
  { field: 'packets_rx', header: 'Pkts down', unit: UNITS.packets },
  { field: 'tcp_flags_src', header: 'Flags (src)' },
  { field: 'tcp_flags_dst', header: 'Flags (dst)' },
  { field: 'conn_state', header: 'State' },
];
/** Record fields kept out of the table (still in Inspect > Data and CSV export). */
export const FLOW_HIDDEN_FIELDS = [
  'flow_id', 'seq', 'record_kind', 'end_reason', 'interface', 'flow_start', 'ip_version', 'protocol_number',
  'icmp_type', 'icmp_code', 'community_id',
];

const TCP_FLAG_BITS: [number, string][] = [
  [0x02, 'S'], [0x10, 'A'], [0x08, 'P'], [0x01, 'F'], [0x04, 'R'], [0x20, 'U'], [0x40, 'E'], [0x80, 'C'],
];

/** Value mappings that show the common TCP flag unions as letters (S=SYN A=ACK P=PSH F=FIN R=RST). */
export function tcpFlagMappings(): dashboard.ValueMapping[] {
  const common = [0x00, 0x02, 0x12, 0x10, 0x18, 0x1a, 0x1b, 0x11, 0x19, 0x04, 0x14, 0x16, 0x1e, 0x1f, 0x06, 0x13, 0x17];
  const options: Record<string, { text: string; index: number }> = {};
  common.forEach((bits, index) => {
    const letters = TCP_FLAG_BITS.filter(([bit]) => (bits & bit) !== 0).map(([, letter]) => letter).join('');
    options[String(bits)] = { text: letters || '-', index };
  });
  return [{ type: dashboard.MappingType.ValueToText, options }];
}

const nodeLink = {
  id: 'links',
  value: [{ title: 'Node detail for ${__value.raw}', url: `/d/${DASHBOARD_UIDS.node}?var-node=\${__value.raw}&\${__url_time_range}` }],
};

/** The newest-flows table: one row per flow record, columns per FLOW_COLUMNS. */
export function flowTable(title: string, description: string, filters: Filter[], limit = 500) {
  const panel = new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.flows(limit).filters(filters))
    .unit(UNITS.none)
    .filterable(true)
    .cellHeight(common.TableCellHeight.Sm)
    .sortBy([new common.TableSortByFieldStateBuilder().displayName('Start').desc(true)])
    .withTransformation({
      id: 'organize',
      options: {
        excludeByName: Object.fromEntries(FLOW_HIDDEN_FIELDS.map((f) => [f, true])),
        indexByName: Object.fromEntries(FLOW_COLUMNS.map((c, i) => [c.field, i])),
        renameByName: Object.fromEntries(FLOW_COLUMNS.map((c) => [c.field, c.header])),
      },
    });
  // Overrides match the renamed headers (organize runs before field config).
  for (const column of FLOW_COLUMNS.filter((c) => c.unit)) {
    panel.overrideByName(column.header, [{ id: 'unit', value: column.unit }]);
  }
  for (const header of ['Flags (src)', 'Flags (dst)']) {
    panel.overrideByName(header, [{ id: 'mappings', value: tcpFlagMappings() }]);
  }
  panel.overrideByName('Node', [nodeLink]);
  panel.overrideByName('Bytes down', [
    { id: 'custom.cellOptions', value: { type: 'gauge', mode: 'basic', valueDisplayMode: 'text' } },
  ]);
  panel.overrideByName('Bytes up', [
    { id: 'custom.cellOptions', value: { type: 'gauge', mode: 'basic', valueDisplayMode: 'text' } },
  ]);
  panel.overrideByName('State', [
    {
      id: 'mappings',
      value: [
        {
          type: 'value',
          options: {
            S0: { text: 'S0 no reply', color: 'orange', index: 0 },
            REJ: { text: 'REJ refused', color: 'red', index: 1 },
            RSTO: { text: 'RSTO reset by src', color: 'yellow', index: 2 },
            RSTR: { text: 'RSTR reset by dst', color: 'yellow', index: 3 },
            SF: { text: 'SF closed', color: 'green', index: 4 },
            S1: { text: 'S1 established', color: 'green', index: 5 },
          },
        },
      ],
    },
    { id: 'custom.cellOptions', value: { type: 'color-text' } },
  ]);
  return panel;
}

/** A top-N table: group columns plus the metric with an inline bar gauge. */
export function topTable(
  title: string,
  description: string,
  groupBy: string[],
  metric: 'bytes' | 'packets' | 'flows',
  filters: Filter[],
  limit = 10,
) {
  const unit = metric === 'bytes' ? UNITS.bytes : metric === 'packets' ? UNITS.packets : UNITS.flows;
  const panel = new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.top(groupBy, metric, limit).filters(filters))
    .unit(unit)
    .cellHeight(common.TableCellHeight.Sm)
    .overrideByFieldType('number', [
      { id: 'custom.cellOptions', value: { type: 'gauge', mode: 'lcd', valueDisplayMode: 'text' } },
    ]);
  // Port keys are numbers too: plain values, no unit.
  for (const port of groupBy.filter((d) => d.endsWith('_port'))) {
    panel.overrideByName(port, [
      { id: 'unit', value: UNITS.none },
      { id: 'custom.cellOptions', value: { type: 'auto' } },
    ]);
  }
  if (groupBy.includes('node')) {
    panel.overrideByName('node', [nodeLink]);
  }
  return panel;
}

// ---- time series and stats -------------------------------------------------------------

/** Bytes/packets/flows per time bucket from the plugin's timeseries query, stacked. */
export function trafficSeries(
  title: string,
  description: string,
  metric: 'bytes' | 'packets' | 'flows',
  splitBy: string[] | undefined,
  filters: Filter[],
) {
  const unit = metric === 'bytes' ? UNITS.bytes : metric === 'packets' ? UNITS.packets : UNITS.flows;
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.timeseries(metric, splitBy, 10).filters(filters))
    .unit(unit)
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
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
    .legend(
      new common.VizLegendOptionsBuilder()
        .displayMode(common.LegendDisplayMode.List)
        .placement(common.LegendPlacement.Bottom)
        .showLegend(true)
        .calcs([]),
    );
  exprs.forEach(([expr, legend], i) => panel.withTarget(promTarget(String.fromCharCode(65 + i), expr, legend)));
  return panel;
}

export const promTarget = (refId: string, expr: string, legend: string) =>
  new prometheus.DataqueryBuilder().refId(refId).datasource(prometheusDatasource).expr(expr).legendFormat(legend).range();
