/**
 * Latency panels of the troubleshooting dashboard: where TCP handshakes are slow (and which
 * leg: the path to the responder, SYN -> SYN/ACK, or the initiator, SYN/ACK -> ACK, as seen
 * at the capturing node), how handshake time moves, and how fast resolvers answer. Averages
 * and maxima are exact across agents (the plugin merges sums, counts and maxima).
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { UNITS, listLegend, type Section } from './common';
import { METRIC_LABELS } from './frames';
import { flowmeshDatasource, FlowmeshQueryBuilder, q, type Filter, type Metric } from './query';

/** Records that carry a measurement (the latency fields are NULL on the others). */
const measured = (field: 'handshake_us' | 'dns_rtt_us'): Filter => ({ field, op: 'gte', value: 0 });

/** The count column the plugin adds beside a latency metric (how many measurements it averages). */
const measurementCount = (metric: Metric): Metric => (metric.startsWith('dns_') ? 'dns_responses' : 'handshakes');

/** A top table ranked by a latency metric; the plugin adds the measurement's other statistics. */
function latencyTop(title: string, description: string, groupBy: string[], metric: Metric, filters: Filter[]) {
  return new table.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(flowmeshDatasource)
    .withTarget(q.top(groupBy, metric, 10).filters(filters))
    .unit(UNITS.microseconds)
    .cellHeight(common.TableCellHeight.Sm)
    .withTransformation({
      id: 'organize',
      options: { excludeByName: { 'Bytes (total)': true, 'Packets (total)': true, 'Flows (total)': true } },
    })
    .overrideByName(METRIC_LABELS[metric], [
      { id: 'custom.cellOptions', value: { type: 'gauge', mode: 'lcd', valueDisplayMode: 'text' } },
    ])
    .overrideByName(METRIC_LABELS[measurementCount(metric)], [{ id: 'unit', value: UNITS.count }]);
}

/** Average and slowest handshake per interval. */
function handshakeSeries(filters: Filter[]) {
  const target = (refId: string, metric: Metric) => new FlowmeshQueryBuilder('timeseries').refId(refId).metric(metric).filters(filters);
  return new timeseries.PanelBuilder()
    .title('Handshake time')
    .description('Average and slowest TCP handshake (first SYN to the ACK completing it) per interval, at the capturing nodes.')
    .datasource(flowmeshDatasource)
    .withTarget(target('A', 'handshake_us_avg'))
    .withTarget(target('B', 'handshake_us_max'))
    .unit(UNITS.microseconds)
    .drawStyle(common.GraphDrawStyle.Line)
    .fillOpacity(10)
    .spanNulls(false)
    .legend(listLegend(['mean', 'max']));
}

/** The troubleshooting dashboard's latency row. */
export function latencySection(scope: Filter[]): Section {
  const tcp: Filter[] = [...scope, { field: 'protocol', op: 'eq', value: 'tcp' }, measured('handshake_us')];
  return {
    row: 'Slow connections (latency)',
    panels: [
      {
        panel: latencyTop(
          'Slowest handshakes by destination',
          'Destinations by average TCP handshake time, split into its legs at the capturing node: SYN → SYN/ACK is the path to ' +
            'the responder and back (plus its accept time), SYN/ACK → ACK the initiator\'s side. A retransmitted SYN adds about 1 s.',
          ['dst_name', 'dst_ip', 'dst_port'],
          'handshake_us_avg',
          tcp,
        ),
        w: 14,
        h: 9,
      },
      { panel: handshakeSeries(tcp), w: 10, h: 9 },
      {
        panel: latencyTop(
          'DNS response time by resolver',
          'Resolvers by average response time (a query to its response, matched by DNS id, on UDP port 53), with the slowest.',
          ['dst_name', 'dst_ip'],
          'dns_rtt_us_avg',
          [...scope, measured('dns_rtt_us')],
        ),
        w: 24,
        h: 7,
      },
    ],
  };
}
