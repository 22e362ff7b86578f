/**
 * The capture pipeline: capture (file, or one or more interfaces) -> decoder -> DNS header
 * and observer -> flow table -> sink. Owns the per-packet loop (one shared DecodedPacket,
 * nothing allocated), the counters the summary and the metrics read, the expiry tick for
 * live capture, the progress line for imports on a terminal, and the final flush.
 *
 * Several interfaces: one capture object and one decoder per interface, each a capture
 * point of the one flow table (its flows keyed apart, see flowTable.ts); the WireGuard
 * routing peers of each interface and the node's NAT translations annotate the records.
 * Open flows (include_open) are read from that one table, so they cover every interface.
 *
 * An import waits for its sink: while the store cannot write, reading pauses between chunks
 * (and at the end, until every record is written), saying what it waits for on the progress
 * line and in the log, until writes work again or the import is interrupted.
 */
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { openLiveCapture, readCaptureFile, type LiveCapture, type LiveCaptureOptions } from '../capture';
import type { PacketHandler } from '../capture/types';
import { DecodeStats, DECODE_REASONS, PacketDecoder, decodeReasonKind } from '../decode/decoder';
import { DecodedPacket, type PacketTime } from '../decode/packet';
import { DnsObserver, readDnsHeader, type DnsCacheOptions, type DnsStats } from '../dns';
import { FlowTable, type FlowAnnotator, type FlowTimeouts } from '../flowtable/flowTable';
import type { LocalAddresses } from '../flow/direction';
import type { Inventory, WireGuardRoutes } from '../inventory';
import type { FlowSink, SinkStatus } from '../model/flow';
import type { NatTable } from '../nat';

export interface PipelineOptions {
  node: string;
  maxFlows: number;
  timeouts: FlowTimeouts;
  dns: { enabled: boolean; cache?: Partial<DnsCacheOptions> };
  inventory: Inventory;
  localAddresses: LocalAddresses;
  /** The node's NAT translations (live capture on a gateway), for linking both sides of a connection. */
  nat?: NatTable;
  logger: Logger;
  /** Progress line on stderr while importing (default: when stderr is a terminal). */
  progress?: boolean;
  bootId?: string;
}

export interface PipelineSummary {
  packets: number;
  /** IP packets that reached the flow table. */
  decoded: number;
  /** Valid traffic without flows (non-IP, orphan fragments). */
  skipped: number;
  malformed: number;
  /** Packets per decode outcome other than ok (non-zero ones only). */
  decodeReasons: Record<string, number>;
  flows: number;
  records: number;
  /** What the sink did with the records (the store: committed, held, dropped), when it says. */
  sink?: SinkStatus;
  evictions: number;
  dns: DnsStats;
  seconds: number;
  packetsPerSecond: number;
}

const PROGRESS_EVERY_PACKETS = 1 << 16;
const PROGRESS_INTERVAL_MS = 250;
const TICK_MS = 1000;

export class Pipeline {
  readonly table: FlowTable;
  readonly dns: DnsObserver;
  private readonly packet = new DecodedPacket();
  private decoder: PacketDecoder | undefined;
  /** Decoders of the capture being read, one per link type (a pcapng file may mix them). */
  private readonly decoders = new Map<number, PacketDecoder>();
  /** Decoders of the live captures, one per interface (fragment reassembly must not mix interfaces). */
  private readonly liveDecoders: PacketDecoder[] = [];
  /** WireGuard peers of each capture point (null: not a WireGuard interface). */
  private readonly peerRoutes: (WireGuardRoutes | null)[] = [];
  /** Counts of decoders already finished (one per imported file). */
  private readonly earlierDecodes = new DecodeStats();
  private readonly dnsEnabled: boolean;
  private readonly progress: boolean;
  private readonly startedMs = Date.now();
  private lastProgressMs = 0;
  private packets = 0;
  /** DNS answers dated no later than an earlier packet (see FlowAnnotator.backdatedAnswers). */
  private backdatedAnswers = 0;
  private undecodable = 0;

  constructor(private readonly options: PipelineOptions, private readonly sink: FlowSink) {
    this.dns = new DnsObserver(options.dns.cache);
    this.dnsEnabled = options.dns.enabled;
    this.progress = options.progress ?? Boolean(process.stderr.isTTY);
    const { inventory, localAddresses, nat } = options;
    const annotator: FlowAnnotator = {
      direction: (src, dst, v) => localAddresses.direction(src, dst, v),
      endpoint: (bytes, v) => inventory.lookup(bytes, v),
      domain: (ip, atUs) => (this.dnsEnabled ? this.dns.domain(ip, atUs) : ''),
      backdatedAnswers: () => this.backdatedAnswers,
      peer: (point, src, dst, v, direction) => this.peerRoutes[point]?.peerOf(src, dst, v, direction) ?? null,
      ...(nat ? { translation: (protocol: number, s: string, sp: number, d: string, dp: number) => nat.lookup(protocol, s, sp, d, dp) } : {}),
    };
    this.table = new FlowTable(
      { node: options.node, interfaceName: '', maxFlows: options.maxFlows, timeouts: options.timeouts, annotator, bootId: options.bootId },
      sink,
    );
  }

  /** The per-packet path: decode into the shared packet, feed DNS and the flow table. */
  private readonly onPacket = (buf: Buffer, offset: number, capLen: number, wireLen: number, time: PacketTime): void => {
    this.packets++;
    const decoder = this.decoder;
    if (decoder === undefined) {
      this.undecodable++;
      return;
    }
    const p = this.packet;
    if (decoder.decode(buf, offset, capLen, wireLen, time, p) !== 0) return;
    readDnsHeader(p, buf);
    if (this.dnsEnabled && p.srcPort === 53) this.observeDns(p, buf);
    this.table.process(p);
    if (this.progress && (this.packets & (PROGRESS_EVERY_PACKETS - 1)) === 0) this.showProgress();
  };

  private observeDns(p: DecodedPacket, buf: Buffer): void {
    const before = this.dns.stats.addresses;
    this.dns.observe(p, buf);
    const learned = this.dns.stats.addresses - before;
    // (the table has not seen this packet yet: latestUs is the latest packet before it)
    if (learned > 0 && p.tsUs <= this.table.latestUs) this.backdatedAnswers += learned;
  }

  private showProgress(): void {
    const now = Date.now();
    if (now - this.lastProgressMs < PROGRESS_INTERVAL_MS) return;
    this.lastProgressMs = now;
    const s = this.table.stats;
    const rate = this.packets / Math.max((now - this.startedMs) / 1000, 1e-3);
    const n = (x: number) => x.toLocaleString('en');
    const sink = this.sink.status?.();
    const stored = sink ? ` (${n(sink.committed)} committed${sink.dropped ? `, ${n(sink.dropped)} dropped` : ''})` : '';
    const waiting = sink?.waiting ? ` - waiting for the store: ${sink.waiting}` : '';
    process.stderr.write(
      `\r\x1b[K${n(this.packets)} packets, ${n(s.activeFlows)} active flows, ` +
        `${n(s.recordsEmitted)} records${stored}, ${n(Math.round(rate))} packets/s${waiting}`,
    );
  }

  /**
   * Null when the sink writes; else waits (showing why) until it writes again — with `all`,
   * until it holds nothing. Rejects with the signal's reason when the import is interrupted.
   */
  private waitForSink(signal: AbortSignal | undefined, all: boolean): Promise<void> | null {
    const sink = this.sink;
    const status = sink.status?.();
    if (!sink.settled || !status || (!status.waiting && (!all || status.held === 0))) return null;
    return this.waiting(sink.settled({ all, signal }));
  }

  /** Says (once, in the log; continuously on the progress line) what the import waits for, until `settled`. */
  private async waiting(settled: Promise<void>): Promise<void> {
    const logger = this.options.logger;
    let reported = false;
    const report = () => {
      const status = this.sink.status?.();
      if (status?.waiting && !reported) {
        reported = true;
        logger.warn({ held: status.held, committed: status.committed }, `import waiting for the store: ${status.waiting}`);
      }
      if (this.progress) {
        this.lastProgressMs = 0;
        this.showProgress();
      }
    };
    report();
    const ticker = setInterval(report, PROGRESS_INTERVAL_MS);
    try {
      await settled;
    } finally {
      clearInterval(ticker);
    }
    if (reported) logger.info({ committed: this.sink.status?.()?.committed }, 'store writing again: import resumed');
  }

  private clearProgress(): void {
    if (this.progress && this.lastProgressMs > 0) process.stderr.write('\r\x1b[K');
  }

  /**
   * Reads one capture file into the flow table (flows continue across files; the table is
   * not flushed). @throws the capture's CaptureFileError / UnsupportedLinkTypeError.
   */
  async importFile(path: string, filter = '', signal?: AbortSignal): Promise<void> {
    this.table.interfaceName = basename(path);
    try {
      const summary = await readCaptureFile(path, {
        filter,
        signal,
        onOpen: (linkType) => {
          this.decoder = this.decoderFor(linkType);
        },
        pause: () => this.waitForSink(signal, false),
      }, this.onPacket);
      this.options.logger.debug({ file: path, packets: summary.packets, linkType: summary.linkTypeName }, 'capture file read');
    } finally {
      this.retireDecoders();
      this.clearProgress();
    }
  }

  /** The routing peers of a capture point's WireGuard interface (null: not WireGuard); replaced when peers change. */
  setPeerRoutes(point: number, routes: WireGuardRoutes | null): void {
    this.peerRoutes[point] = routes;
  }

  /**
   * Starts live capture on one or more interfaces (capture point i = interfaces[i]); the
   * returned handle's stop() ends capture and flushes every flow. When an interface cannot
   * be opened, the ones already open are closed and the error is thrown.
   */
  startLive(capture: Omit<LiveCaptureOptions, 'onError' | 'onWarning' | 'interface'>, interfaces: readonly string[]): LiveRun {
    const logger = this.options.logger;
    if (interfaces.length === 0) throw new Error('no interface to capture on');
    const captures: LiveCapture[] = [];
    try {
      interfaces.forEach((name, i) => {
        const point = i === 0 ? 0 : this.table.addCapturePoint(name);
        if (i === 0) this.table.interfaceName = name;
        // the interface's decoder, known once it is open (packets arrive after that)
        const slot: { decoder?: PacketDecoder } = {};
        const onPacket: PacketHandler = (buf, offset, capLen, wireLen, time) => {
          this.table.selectCapturePoint(point);
          this.decoder = slot.decoder;
          this.onPacket(buf, offset, capLen, wireLen, time);
        };
        const live = openLiveCapture({
          ...capture,
          interface: name,
          onWarning: (message) => logger.warn({ interface: name }, message),
          onError: (error) => logger.error({ interface: name, err: error }, 'capture error'),
        }, onPacket);
        slot.decoder = new PacketDecoder(live.linkType);
        this.liveDecoders.push(slot.decoder);
        captures.push(live);
      });
    } catch (error) {
      for (const live of captures) live.close();
      throw error;
    }
    // expiry by the wall clock when packets stop arriving
    const tick = setInterval(() => this.table.advanceTime(Date.now() * 1000), TICK_MS);
    tick.unref();
    let stopped: Promise<void> | undefined;
    return {
      captures,
      stop: () => (stopped ??= (async () => {
        clearInterval(tick);
        for (const live of captures) live.close();
        await this.finish();
      })()),
    };
  }

  /**
   * Emits every flow still in the table (end_reason shutdown) and flushes the sink. With a
   * signal (an import), waits until the sink has written everything, however long its store
   * needs, or until the signal aborts (rejecting with its reason).
   */
  async finish(signal?: AbortSignal): Promise<void> {
    this.table.flushAll('shutdown');
    if (signal) {
      await this.waitForSink(signal, true);
      this.clearProgress();
    }
    await this.sink.flush();
  }

  private decoderFor(linkType: number): PacketDecoder {
    let decoder = this.decoders.get(linkType);
    if (!decoder) {
      decoder = new PacketDecoder(linkType);
      this.decoders.set(linkType, decoder);
    }
    return decoder;
  }

  /** Folds the counts of the finished capture's decoders into the totals. */
  private retireDecoders(): void {
    for (const decoder of this.decoders.values()) this.earlierDecodes.add(decoder.stats);
    this.decoders.clear();
    this.decoder = undefined;
  }

  /** Decode outcome counts so far (finished files plus the current capture's decoders). */
  decodeCounts(): Record<string, number> {
    const total = new DecodeStats();
    total.add(this.earlierDecodes);
    for (const decoder of this.decoders.values()) total.add(decoder.stats);
    for (const decoder of this.liveDecoders) total.add(decoder.stats);
    const out: Record<string, number> = {};
    DECODE_REASONS.forEach((name, i) => (out[name] = total.counts[i]));
    return out;
  }

  summary(): PipelineSummary {
    const counts = this.decodeCounts();
    let skipped = 0;
    let malformed = 0;
    const decodeReasons: Record<string, number> = {};
    for (const [name, n] of Object.entries(counts)) {
      if (name === 'ok' || n === 0) continue;
      decodeReasons[name] = n;
      if (decodeReasonKind(name as (typeof DECODE_REASONS)[number]) === 'skipped') skipped += n;
      else malformed += n;
    }
    const s = this.table.stats;
    const seconds = (Date.now() - this.startedMs) / 1000;
    return {
      packets: this.packets,
      decoded: counts.ok,
      skipped,
      malformed: malformed + this.undecodable,
      decodeReasons,
      flows: s.flowsCreated,
      records: s.recordsEmitted,
      ...(this.sink.status ? { sink: this.sink.status() } : {}),
      evictions: s.evictions,
      dns: { ...this.dns.stats },
      seconds,
      packetsPerSecond: seconds > 0 ? this.packets / seconds : 0,
    };
  }

  /** Providers for the Prometheus metrics (read at scrape time). */
  metricsProviders() {
    return {
      decode: {
        decodeErrors: () => {
          const counts = this.decodeCounts();
          delete counts.ok;
          return counts;
        },
      },
      flowTable: {
        flowTableStats: () => {
          const s = this.table.stats;
          return { activeFlows: s.activeFlows, evictions: s.evictions };
        },
      },
    };
  }
}

export interface LiveRun {
  /** One per interface, in the order given. */
  captures: LiveCapture[];
  stop(): Promise<void>;
}

/** Human-readable summary lines for terminals. */
export function formatSummary(s: PipelineSummary): string {
  const n = (x: number) => Math.round(x).toLocaleString('en');
  const lines = [
    `packets ${n(s.packets)} (decoded ${n(s.decoded)}, skipped ${n(s.skipped)}, malformed ${n(s.malformed)})`,
    `flows ${n(s.flows)}, records ${n(s.records)}, evictions ${n(s.evictions)}`,
    ...(s.sink ? [`stored ${n(s.sink.committed)}, held ${n(s.sink.held)}, dropped ${n(s.sink.dropped)}${s.sink.waiting ? ` (store: ${s.sink.waiting})` : ''}`] : []),
    `dns responses ${n(s.dns.responses)}, addresses learned ${n(s.dns.addresses)}, malformed ${n(s.dns.malformed)}`,
    `${s.seconds.toFixed(2)} s, ${n(s.packetsPerSecond)} packets/s`,
  ];
  const reasons = Object.entries(s.decodeReasons);
  if (reasons.length) lines.push(`not decoded: ${reasons.map(([k, v]) => `${k} ${n(v)}`).join(', ')}`);
  return lines.join('\n');
}
