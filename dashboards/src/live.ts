/**
 * The live view of the node dashboard: connections still open on the node's agent (the
 * plugin's includeOpen: open flows answer within seconds, counted once when their records
 * land) in a table, and the node's traffic of the last minutes at a fine interval. The
 * panels look at the last minutes whatever the dashboard's range; set the dashboard's
 * refresh to 5s or 10s to watch them move.
 */
import {
  CONN_STATE_CELLS, UNITS, fieldsBesides, flowRecordsTable, listLegend, stackedBars, type FlowColumn, type Section,
} from './common';
import { q, type Filter } from './query';

/** Columns of the open-connections table: flow-frame field, header, unit. */
const LIVE_COLUMNS: FlowColumn[] = [
  { field: 'start', header: 'Since' },
  { field: 'end', header: 'Last packet' },
  { field: 'record_kind', header: 'Record' },
  { field: 'interface', header: 'Interface' },
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
  return flowRecordsTable({
    title: 'Open connections right now',
    description:
      'Connections still open in the agent\'s flow table, within seconds of their first packet, with the counters of their ' +
      'current record period (since the last interim record). A connection leaves this table when its record is written; ' +
      'it is never counted twice. Last 5 minutes, whatever the dashboard\'s range.',
    target: q.flows(500).includeOpen().filters([...filters, { field: 'record_kind', op: 'eq', value: 'open' }]),
    timeFrom: '5m',
    columns: LIVE_COLUMNS,
    hidden: fieldsBesides(LIVE_COLUMNS),
    sortBy: 'Last packet',
  }).overrideByName('State', CONN_STATE_CELLS);
}

/** Bytes of the last 15 minutes per 10 s by direction, open connections included. */
function trafficNowSeries(filters: Filter[]) {
  return stackedBars(
    'Traffic now (open connections included)',
    'Bytes per 10 seconds by direction over the last 15 minutes, counting connections still open (their packets so far) as ' +
      'well as recorded ones, each packet once. A record is attributed to the start of its period.',
    q.timeseries('bytes', ['direction'], 10).interval('10s').includeOpen().filters(filters),
    UNITS.bytes,
    '15m',
  ).legend(listLegend([]));
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
