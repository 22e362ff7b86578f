/**
 * Prometheus metrics of one agent, in a registry of its own (names pinned in docs/CONTRACTS.md).
 *
 * Two ways in, both free on the per-packet path:
 *  - traffic and flow counters are fed from flow records as they leave the flow table
 *    (`observeRecord`, or wrap the sink with `meteredSink`), so they equal the stored totals;
 *    a record adds to plain running totals per label set, copied into the counters when
 *    Prometheus scrapes (prom-client hashes and checks the labels on every inc(): four incs
 *    per record cost about 1.7 µs, a sixth of what storing the record costs);
 *  - capture, decode, flow-table and store figures are read from their owners' stats
 *    objects when Prometheus scrapes (`collect()`), through the small provider interfaces below.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FlowRecord, FlowSink } from '../model/flow';

export interface CaptureStats {
  interface: string;
  /** Packets handed to the agent by libpcap. */
  received: number;
  /** Dropped because the kernel buffer was full (pcap_stats ps_drop). */
  kernelDrops: number;
  /** Dropped by the interface or driver (pcap_stats ps_ifdrop). */
  ifDrops: number;
}
export interface CaptureStatsProvider {
  captureStats(): CaptureStats[];
}
export interface DecodeStatsProvider {
  /** Packets not decoded, by reason (e.g. truncated_ipv4, unsupported_linktype). */
  decodeErrors(): Record<string, number>;
}
export interface FlowTableStatsProvider {
  flowTableStats(): { activeFlows: number; evictions: number };
}
export interface StoreStats {
  /** Records handed to the store (received = written + backlog + dropped). */
  received: number;
  rowsWritten: number;
  /** Records held, in memory and in spill files. */
  backlogRecords: number;
  spilledRecords: number;
  spillBytes: number;
  /** Records dropped, by reason (full, invalid, shutdown). */
  dropped: Record<string, number>;
  dbBytes: number;
  /** Failures by kind (e.g. disk_full, damaged, maintenance). */
  errors: Record<string, number>;
  reopens: number;
  /** Conditions making the store degraded, each true while it lasts. */
  degraded: { writes_failing: boolean; quarantined_file: boolean };
  quarantinedFiles: number;
}
export interface StoreStatsProvider {
  storeStats(): StoreStats;
}

export interface NatStatsProvider {
  natStats(): {
    /** Translated connections held for linking. */
    connections: number;
    /** Dropped because the table was full. */
    evicted: number;
    /** conntrack lines applied (dump and events). */
    lines: number;
    /** conntrack lost-events warnings. */
    overruns: number;
    /** Whether the conntrack event process runs. */
    running: boolean;
  };
}

/** Whoever owns these figures; any may be absent (e.g. `serve` has no capture). */
export interface MetricsProviders {
  capture?: CaptureStatsProvider;
  decode?: DecodeStatsProvider;
  flowTable?: FlowTableStatsProvider;
  store?: StoreStatsProvider;
  /** NAT linking (run on a gateway). */
  nat?: NatStatsProvider;
}

export interface MetricsOptions {
  /** Most distinct `peer` label values; later names are counted as `other`. */
  maxPeerLabels?: number;
  /** Default prom-client process and Node.js metrics (on unless false). */
  processMetrics?: boolean;
}

export const OTHER_PEER = 'other';

/** Running totals of one label set of the record-fed counters. */
interface TrafficTally {
  labels: { direction: string; protocol: string; peer: string };
  bytes: number;
  packets: number;
}
interface FlowTally<L extends string> {
  labels: Record<L, string>;
  count: number;
}

/** The value under `key`, made by `make` the first time. */
function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** Adds a new tally to its list and returns it. */
function listed<T>(list: T[], tally: T): T {
  list.push(tally);
  return tally;
}

/** A counter whose samples are running totals kept outside prom-client, copied at scrape time. */
function tallyCounter<L extends string, T extends { labels: Record<L, string> }>(
  config: { name: string; help: string; labelNames: L[]; registers: Registry[] },
  tallies: () => Iterable<T>,
  value: (tally: T) => number,
): Counter<L> {
  return new Counter<L>({
    ...config,
    collect() {
      this.reset();
      for (const tally of tallies()) this.inc(tally.labels as Partial<Record<L, string>>, value(tally));
    },
  });
}

export class AgentMetrics {
  readonly registry = new Registry();
  /** Current stats owners (read at scrape time). */
  readonly providers: MetricsProviders = {};
  private readonly maxPeerLabels: number;
  private readonly peers = new Set<string>();
  /** Record-fed totals: direction -> protocol -> peer (traffic) or end reason (flows ended). */
  private readonly traffic = new Map<string, Map<string, Map<string, TrafficTally>>>();
  private readonly started = new Map<string, Map<string, FlowTally<'direction' | 'protocol'>>>();
  private readonly ended = new Map<string, Map<string, Map<string, FlowTally<'direction' | 'protocol' | 'reason'>>>>();
  /** The same tallies as lists, for the counters to read at scrape time. */
  private readonly trafficTallies: TrafficTally[] = [];
  private readonly startedTallies: FlowTally<'direction' | 'protocol'>[] = [];
  private readonly endedTallies: FlowTally<'direction' | 'protocol' | 'reason'>[] = [];
  private readonly storeBatch: Histogram;
  private readonly apiDuration: Histogram<'route' | 'method' | 'status'>;
  private readonly apiConnections: Gauge;
  private readonly apiConnectionsRefused: Counter<'reason'>;
  private readonly apiConnectionsClosed: Counter<'reason'>;

  constructor(options: MetricsOptions = {}) {
    this.maxPeerLabels = options.maxPeerLabels ?? 200;
    const registers = [this.registry];
    const trafficTallies = () => this.trafficTallies;
    tallyCounter({
      name: 'flowmesh_traffic_bytes_total',
      help: 'IP-layer bytes (both directions) of flow records leaving the flow table, by direction, protocol and peer',
      labelNames: ['direction', 'protocol', 'peer'],
      registers,
    }, trafficTallies, (t) => t.bytes);
    tallyCounter({
      name: 'flowmesh_traffic_packets_total',
      help: 'Packets (both directions) of flow records leaving the flow table, by direction, protocol and peer',
      labelNames: ['direction', 'protocol', 'peer'],
      registers,
    }, trafficTallies, (t) => t.packets);
    tallyCounter({
      name: 'flowmesh_flows_started_total',
      help: 'Connections started (first record of each flow)',
      labelNames: ['direction', 'protocol'],
      registers,
    }, () => this.startedTallies, (t) => t.count);
    tallyCounter({
      name: 'flowmesh_flows_ended_total',
      help: 'Connections ended (final records), by end reason',
      labelNames: ['direction', 'protocol', 'reason'],
      registers,
    }, () => this.endedTallies, (t) => t.count);
    this.storeBatch = new Histogram({
      name: 'flowmesh_store_batch_seconds',
      help: 'Time to write one batch of records to the store',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.apiDuration = new Histogram({
      name: 'flowmesh_api_request_duration_seconds',
      help: 'HTTP API request duration by route pattern, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.apiConnections = new Gauge({ name: 'flowmesh_api_connections', help: 'Open HTTP API connections', registers });
    this.apiConnectionsRefused = new Counter({
      name: 'flowmesh_api_connections_refused_total',
      help: 'HTTP API connections closed as they arrived, by the limit reached (max_connections, max_connections_per_client)',
      labelNames: ['reason'],
      registers,
    });
    this.apiConnectionsClosed = new Counter({
      name: 'flowmesh_api_connections_closed_total',
      help: 'HTTP API connections the agent closed on the client, by reason (timeout, stalled, malformed, unauthorized)',
      labelNames: ['reason'],
      registers,
    });
    this.registerScrapeTimeMetrics();
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry });
      // These gauges break Prometheus naming rules (promtool: "non-counter metrics should not
      // have _total suffix"); their per-type siblings (nodejs_active_handles{type}...) carry the same figures.
      for (const misnamed of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(misnamed);
      }
    }
  }

  /** Attaches (or replaces) stats owners; the pipeline may start after the service. */
  setProviders(providers: MetricsProviders): void {
    Object.assign(this.providers, providers);
  }

  /** Counts one flow record as it leaves the flow table (plain additions: see the header). */
  observeRecord(record: FlowRecord): void {
    // String(): the contract's literal unions type these fields as `unknown`.
    const direction = String(record.direction);
    const protocol = record.protocol;
    const peer = this.peerLabel(record);
    const byProtocol = entry(this.traffic, direction, () => new Map<string, Map<string, TrafficTally>>());
    const byPeer = entry(byProtocol, protocol, () => new Map<string, TrafficTally>());
    const traffic = entry(byPeer, peer, () => listed(this.trafficTallies, { labels: { direction, protocol, peer }, bytes: 0, packets: 0 }));
    traffic.bytes += record.bytes_tx + record.bytes_rx;
    traffic.packets += record.packets_tx + record.packets_rx;
    if (record.seq === 0) {
      const startedByProtocol = entry(this.started, direction, () => new Map<string, FlowTally<'direction' | 'protocol'>>());
      entry(startedByProtocol, protocol, () => listed(this.startedTallies, { labels: { direction, protocol }, count: 0 })).count++;
    }
    if (record.record_kind === 'final') {
      const reason = String(record.end_reason);
      const endedByProtocol = entry(this.ended, direction, () => new Map<string, Map<string, FlowTally<'direction' | 'protocol' | 'reason'>>>());
      const byReason = entry(endedByProtocol, protocol, () => new Map<string, FlowTally<'direction' | 'protocol' | 'reason'>>());
      entry(byReason, reason, () => listed(this.endedTallies, { labels: { direction, protocol, reason }, count: 0 })).count++;
    }
  }

  observeStoreBatch(seconds: number): void {
    this.storeBatch.observe(seconds);
  }

  observeApiRequest(route: string, method: string, status: number, seconds: number): void {
    this.apiDuration.labels(route, method, String(status)).observe(seconds);
  }

  apiConnectionOpened(): void {
    this.apiConnections.inc();
  }

  apiConnectionEnded(): void {
    this.apiConnections.dec();
  }

  apiConnectionRefused(reason: 'max_connections' | 'max_connections_per_client'): void {
    this.apiConnectionsRefused.inc({ reason });
  }

  apiConnectionClosed(reason: 'timeout' | 'stalled' | 'malformed' | 'unauthorized'): void {
    this.apiConnectionsClosed.inc({ reason });
  }

  /** The text exposition format, for GET /metrics. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * The peer is the far end from this node: the destination of outbound and forwarded
   * flows, the source of inbound ones (forwarded falls back to the source when the
   * destination has no name). Only inventory names become labels, at most maxPeerLabels.
   */
  private peerLabel(record: FlowRecord): string {
    const name = record.direction === 'inbound' ? record.src_name : record.dst_name || record.src_name;
    if (!name) return OTHER_PEER;
    if (this.peers.has(name)) return name;
    if (this.peers.size >= this.maxPeerLabels) return OTHER_PEER;
    this.peers.add(name);
    return name;
  }

  private registerScrapeTimeMetrics(): void {
    const registers = [this.registry];
    const providers = this.providers;
    /** A counter whose value is copied from its owner at scrape time. */
    const mirroredCounter = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      read: () => Array<[Partial<Record<L, string>>, number]> | undefined,
    ) =>
      new Counter<L>({
        name, help, labelNames, registers,
        collect() {
          const samples = read();
          this.reset();
          for (const [labels, value] of samples ?? []) this.inc(labels, value);
        },
      });
    const mirroredGauge = (name: string, help: string, read: () => number | undefined) =>
      new Gauge({
        name, help, registers,
        collect() {
          const value = read();
          if (value === undefined) this.reset();
          else this.set(value);
        },
      });
    const perInterface = (pick: (s: CaptureStats) => number) => () =>
      providers.capture?.captureStats().map((s): [{ interface: string }, number] => [{ interface: s.interface }, pick(s)]);

    mirroredCounter('flowmesh_capture_packets_total', 'Packets received from libpcap', ['interface'], perInterface((s) => s.received));
    mirroredCounter('flowmesh_capture_kernel_drops_total', 'Packets dropped by the kernel (buffer full)', ['interface'],
      perInterface((s) => s.kernelDrops));
    mirroredCounter('flowmesh_capture_interface_drops_total', 'Packets dropped by the interface or driver', ['interface'],
      perInterface((s) => s.ifDrops));
    mirroredCounter('flowmesh_decode_errors_total', 'Packets not decoded, by reason', ['reason'], () => {
      const errors = providers.decode?.decodeErrors();
      return errors && Object.entries(errors).map(([reason, n]): [{ reason: string }, number] => [{ reason }, n]);
    });
    mirroredGauge('flowmesh_flow_table_flows', 'Flows in the flow table', () => providers.flowTable?.flowTableStats().activeFlows);
    mirroredCounter('flowmesh_flow_table_evictions_total', 'Flows evicted because the table was full', [], () => {
      const stats = providers.flowTable?.flowTableStats();
      return stats && [[{}, stats.evictions]];
    });
    const store = () => providers.store?.storeStats();
    mirroredCounter('flowmesh_store_rows_written_total', 'Flow records written to the store', [], () => {
      const stats = store();
      return stats && [[{}, stats.rowsWritten]];
    });
    mirroredCounter('flowmesh_store_records_received_total', 'Flow records handed to the store (= written + backlog + dropped)', [], () => {
      const stats = store();
      return stats && [[{}, stats.received]];
    });
    mirroredGauge('flowmesh_store_backlog_records', 'Records held (in memory and in spill files), waiting to be written', () => store()?.backlogRecords);
    mirroredGauge('flowmesh_store_spill_records', 'Of the held records, those in spill files on disk', () => store()?.spilledRecords);
    mirroredGauge('flowmesh_store_spill_bytes', 'Size of the spill files', () => store()?.spillBytes);
    mirroredCounter('flowmesh_store_backlog_dropped_total', 'Records dropped, by reason: full (memory and spill full while writes fail), invalid, shutdown (could not be written or spilled at exit)', ['reason'], () => {
      const dropped = store()?.dropped;
      return dropped && Object.entries(dropped).map(([reason, n]): [{ reason: string }, number] => [{ reason }, n]);
    });
    mirroredGauge('flowmesh_store_db_bytes', 'Size of the database file(s) on disk', () => store()?.dbBytes);
    mirroredCounter('flowmesh_store_errors_total', 'Store failures by kind', ['kind'], () => {
      const errors = store()?.errors;
      return errors && Object.entries(errors).map(([kind, n]): [{ kind: string }, number] => [{ kind }, n]);
    });
    mirroredCounter('flowmesh_store_reopens_total', 'Times the database was closed and opened again (invalidated by DuckDB, or quarantined while running)', [], () => {
      const stats = store();
      return stats && [[{}, stats.reopens]];
    });
    mirroredGauge('flowmesh_store_quarantined_files', 'Damaged database files moved aside next to the database (until an operator removes them)', () => store()?.quarantinedFiles);
    new Gauge({
      name: 'flowmesh_store_degraded',
      help: '1 while the condition holds: writes_failing (records held and retried), quarantined_file (a damaged database file was moved aside)',
      labelNames: ['condition'],
      registers,
      collect() {
        this.reset();
        const degraded = store()?.degraded;
        if (degraded) for (const [condition, on] of Object.entries(degraded)) this.set({ condition }, on ? 1 : 0);
      },
    });
    const nat = () => providers.nat?.natStats();
    mirroredGauge('flowmesh_nat_connections', 'Translated connections (conntrack) held for linking pre- and post-NAT records', () => nat()?.connections);
    mirroredCounter('flowmesh_nat_evictions_total', 'Translated connections forgotten because the NAT table was full', [], () => {
      const stats = nat();
      return stats && [[{}, stats.evicted]];
    });
    mirroredCounter('flowmesh_conntrack_events_total', 'Connection-tracking lines applied (dumps and NEW/DESTROY events)', [], () => {
      const stats = nat();
      return stats && [[{}, stats.lines]];
    });
    mirroredCounter('flowmesh_conntrack_overruns_total', 'Times conntrack reported lost events (then the NAT table is reloaded)', [], () => {
      const stats = nat();
      return stats && [[{}, stats.overruns]];
    });
    mirroredGauge('flowmesh_conntrack_up', '1 while the conntrack event process runs', () => {
      const stats = nat();
      return stats && (stats.running ? 1 : 0);
    });
  }
}

/** A FlowSink that counts each record in the metrics, then hands it on. */
export function meteredSink(inner: FlowSink, metrics: AgentMetrics): FlowSink {
  return {
    write(record) {
      metrics.observeRecord(record);
      inner.write(record);
    },
    flush: () => inner.flush(),
    close: () => inner.close(),
    ...(inner.status ? { status: () => inner.status!() } : {}),
    ...(inner.settled ? { settled: (options) => inner.settled!(options) } : {}),
  };
}
