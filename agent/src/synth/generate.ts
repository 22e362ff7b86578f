/**
 * Deterministic synthetic capture: plans a realistic mix of flows from a seed, merges their
 * packets in time order into a pcap, and writes the ground truth (computed from what was
 * written, independently of the agent's flow code) as JSON next to it.
 *
 * Mix: TCP with full handshake, data both ways and FIN/FIN close (SF), SYN-only attempts
 * (S0), SYN then RST (REJ), established then reset by either side (RSTO/RSTR), mid-stream
 * TCP with the server's packet first (OTH; the client is the initiator), UDP request/
 * response, DNS A+AAAA lookups followed by connections to the answered addresses, names
 * sharing one address (a CDN: two names answered for it with different TTLs, connections
 * before and after the second answer expires), a connection whose address is answered only
 * while it runs (the name must not be taken back in time), ICMP and
 * ICMPv6 echo, UDP to a closed port answered by ICMP port unreachable, IPv4-fragmented UDP
 * responses, IPv6 flows with hop-by-hop or destination-options headers, 802.1Q and QinQ
 * tagged frames (Ethernet). Flows overlap in time; gaps inside a flow stay below 10 s.
 *
 * With `packets` set, bulk-capable TCP flows get heavy-tailed shares of the data packets so
 * the capture has exactly that many packets (when it exceeds the fixed handshake/close
 * packets). Writing is streamed through one 4 MiB chunk, fast enough for millions of packets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AddressPlan, CAPTURE_HOST, formatIp } from './addresses';
import { IPV6_EXT_DEST_OPTIONS, IPV6_EXT_HOP_BY_HOP, IPV6_EXT_NONE, PacketBuilder, SYNTH_LINK_TYPES, type Endpoints, type SynthLinkType } from './builder';
import { dnsQuery, dnsResponse } from './dns';
import { Prng } from './prng';
import {
  DnsSim,
  EchoSim,
  FlowSim,
  FragmentedUdpSim,
  TcpSim,
  UdpSim,
  UnreachableSim,
  type DnsAnswerTruth,
  type TcpKind,
  type TruthFlow,
} from './scenarios';
import { PcapWriter, SYNTH_SNAPLEN } from './writer';

export type { SynthLinkType } from './builder';
export type { TruthFlow, DnsAnswerTruth } from './scenarios';

export interface GenerateOptions {
  /** Output pcap path. */
  out: string;
  /** Ground-truth JSON path (default: the pcap path with `.truth.json`). */
  truth?: string;
  seed?: number;
  /** Approximate number of flows (a DNS lookup brings its connections along). Default 200, or packets/250 when packets is set. */
  flows?: number;
  /** Exact packet count to reach by scaling bulk TCP flows (ignored when below the fixed packets). */
  packets?: number;
  linkType?: SynthLinkType;
  /** Captured bytes per packet (records are truncated, wire lengths kept). Default 262144 (no truncation). */
  snapLen?: number;
  /** First flow start, epoch µs. Default 2026-01-01T00:00:00Z plus `seed` seconds. */
  startUs?: number;
  /** Called every 65,536 packets with the packets written so far (progress display). */
  onProgress?: (packets: number) => void;
}

export interface CaptureSummary {
  packets: number;
  /** On-the-wire frame bytes (what tshark and capinfos count). */
  frame_bytes: number;
  captured_bytes: number;
  ip_bytes: number;
  flows: number;
  flows_by_protocol: Record<string, number>;
  flows_by_conn_state: Record<string, number>;
  fragments: number;
  first_us: number;
  last_us: number;
  file_bytes: number;
}

export interface CaptureTruth {
  format: 'flowmesh-synth-truth';
  /** 2: latency (tcp_synack_us, tcp_ack_us, dns_rtt_us) and answers shared by several names. */
  version: 2;
  seed: number;
  link_type: SynthLinkType;
  link_type_number: number;
  snap_len: number;
  /** Addresses of the capturing node (for direction: outbound when src is one of them). */
  capture_host: string[];
  summary: CaptureSummary;
  dns: DnsAnswerTruth[];
  flows: TruthFlow[];
}

export interface GeneratedCapture {
  pcapPath: string;
  truthPath: string;
  summary: CaptureSummary;
}

const EPOCH_2026_US = Date.UTC(2026, 0, 1) * 1000;
const DNS_TTL = 3600;
const TCP_SERVICE_PORTS = [443, 443, 443, 443, 80, 22, 5432, 6443, 8080, 9100, 3000, 9477] as const;
const INBOUND_SERVICE_PORTS = [22, 9100, 9477, 443] as const;
const UDP_SERVICE_PORTS = [123, 51820, 443, 161, 3478, 41641] as const;
const DOMAINS = [
  'api.github.com', 'registry.npmjs.org', 'grafana.example.com', 'updates.example.net', 'storage.example.org',
  'login.example.com', 'metrics.example.io', 'cdn.example.net', 'pkg.example.dev', 'time.example.org',
] as const;

type Unit =
  | 'tcp_sf' | 'dns_connect' | 'dns_shared' | 'dns_late' | 'tcp_s0' | 'tcp_rej' | 'tcp_rsto' | 'tcp_rstr' | 'tcp_oth'
  | 'udp_rr' | 'udp_frag' | 'icmp_echo' | 'icmpv6_echo' | 'udp_unreach';
const UNIT_WEIGHTS: ReadonlyArray<readonly [Unit, number]> = [
  ['tcp_sf', 28], ['dns_connect', 10], ['dns_shared', 2], ['dns_late', 2], ['tcp_s0', 6], ['tcp_rej', 5], ['tcp_rsto', 3],
  ['tcp_rstr', 3], ['tcp_oth', 4], ['udp_rr', 12], ['udp_frag', 4], ['icmp_echo', 5], ['icmpv6_echo', 3], ['udp_unreach', 3],
];
/** TTLs of the shared-address scenario: the second name expires long before the first. */
const SHARED_TTLS = [300, 60] as const;

/** Plans flows: endpoints, unique 5-tuples, start times. */
class Planner {
  readonly sims: FlowSim[] = [];
  readonly dns: DnsAnswerTruth[] = [];
  private readonly addresses: AddressPlan;
  private readonly keys = new Set<string>();
  private readonly resolved = new Set<string>();
  private nextId = 1;
  private flowCount = 0;

  constructor(
    private readonly rng: Prng,
    private readonly link: SynthLinkType,
  ) {
    this.addresses = new AddressPlan(rng);
  }

  get flows(): number {
    return this.flowCount;
  }

  private pickUnit(): Unit {
    const total = UNIT_WEIGHTS.reduce((s, [, w]) => s + w, 0);
    let r = this.rng.next() * total;
    for (const [unit, w] of UNIT_WEIGHTS) if ((r -= w) < 0) return unit;
    return 'tcp_sf';
  }

  /** Endpoints: outbound from the capturing node, inbound to it, or forwarded through it. */
  private endpoints(v: 4 | 6, serverPorts: 'tcp' | 'none'): { e: Endpoints; inbound: boolean } {
    const rng = this.rng;
    const roll = rng.next();
    let a: Uint8Array;
    let b: Uint8Array;
    let aLocal = false;
    let inbound = false;
    if (v === 6) {
      if (roll < 0.6) {
        a = CAPTURE_HOST.meshV6;
        b = rng.chance(0.5) ? this.addresses.meshV6() : this.addresses.publicV6();
        aLocal = true;
      } else if (roll < 0.85 && serverPorts === 'tcp') {
        a = this.addresses.meshV6();
        b = CAPTURE_HOST.meshV6;
        inbound = true;
      } else {
        a = this.addresses.meshV6();
        b = this.addresses.publicV6();
      }
    } else if (roll < 0.55) {
      a = rng.chance(0.7) ? CAPTURE_HOST.meshV4 : CAPTURE_HOST.lanV4;
      const where = rng.next();
      b = where < 0.4 ? this.addresses.meshNodeV4() : where < 0.8 ? this.addresses.publicV4() : this.addresses.lanV4();
      aLocal = true;
    } else if (roll < 0.8 && serverPorts === 'tcp') {
      a = rng.chance(0.5) ? this.addresses.meshNodeV4() : this.addresses.meshUserV4();
      b = CAPTURE_HOST.meshV4;
      inbound = true;
    } else {
      a = rng.chance(0.6) ? this.addresses.lanV4() : this.addresses.meshUserV4();
      b = rng.chance(0.5) ? this.addresses.publicV4() : this.addresses.meshNodeV4();
    }
    // drawn for every link type so one seed plans the same flows whatever the framing
    const tag = rng.next();
    const outer = rng.int(100, 199);
    const inner = rng.int(2, 4094);
    const vlan = this.link !== 'ethernet' ? [] : tag < 0.03 ? [outer, inner] : tag < 0.13 ? [inner] : [];
    const ext = v === 6 && rng.chance(0.5) ? (rng.chance(0.5) ? IPV6_EXT_HOP_BY_HOP : IPV6_EXT_DEST_OPTIONS) : IPV6_EXT_NONE;
    return { e: { v, a, b, aMac: this.addresses.mac(a), bMac: this.addresses.mac(b), vlan, ext, aLocal }, inbound };
  }

  /** Reserves a flow key; false when it is already used in this capture. */
  private claim(protocol: string, e: Endpoints, aPort: number, bPort: number): boolean {
    const x = `${formatIp(e.a)}/${aPort}`;
    const y = `${formatIp(e.b)}/${bPort}`;
    const key = `${protocol}|${x < y ? x : y}|${x < y ? y : x}`;
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    return true;
  }

  /** A client port making the flow key unique (retries a few ports, then a fresh pair of endpoints). */
  private uniquePort(protocol: string, e: Endpoints, bPort: number): number {
    for (let attempt = 0; attempt < 32; attempt++) {
      const port = this.addresses.ephemeralPort();
      if (this.claim(protocol, e, port, bPort)) return port;
    }
    throw new Error('synthetic capture: could not find a unique flow key (too many flows for the address plan)');
  }

  private ids(n: number): number {
    const first = this.nextId;
    this.nextId += n;
    this.flowCount += n;
    return first;
  }

  addUnit(startUs: number): void {
    const rng = this.rng;
    const unit = this.pickUnit();
    const order = this.sims.length;
    switch (unit) {
      case 'tcp_sf':
      case 'tcp_s0':
      case 'tcp_rej':
      case 'tcp_rsto':
      case 'tcp_rstr':
      case 'tcp_oth': {
        const kind = unit.slice(4).toUpperCase() as TcpKind;
        const { e, inbound } = this.endpoints(rng.chance(0.25) ? 6 : 4, 'tcp');
        const bPort = kind === 'OTH' ? rng.pick([443, 80, 22]) : inbound ? rng.pick(INBOUND_SERVICE_PORTS) : rng.pick(TCP_SERVICE_PORTS);
        const aPort = this.uniquePort('tcp', e, bPort);
        this.sims.push(new TcpSim(order, startUs, e, aPort, bPort, kind, this.ids(1), rng));
        break;
      }
      case 'udp_rr': {
        const { e } = this.endpoints(rng.chance(0.25) ? 6 : 4, 'none');
        const bPort = rng.pick(UDP_SERVICE_PORTS);
        const aPort = this.uniquePort('udp', e, bPort);
        this.sims.push(new UdpSim(order, startUs, e, aPort, bPort, rng.int(1, 5), rng.int(20, 300), rng.int(20, 1200), this.ids(1), rng));
        break;
      }
      case 'udp_frag': {
        const { e } = this.endpoints(4, 'none');
        const bPort = rng.pick([4789, 2049, 5004, 8472]);
        const aPort = this.uniquePort('udp', e, bPort);
        this.sims.push(new FragmentedUdpSim(order, startUs, e, aPort, bPort, rng.int(1, 2), rng.int(1600, 4400), this.ids(1), rng));
        break;
      }
      case 'icmp_echo':
      case 'icmpv6_echo': {
        const v = unit === 'icmp_echo' ? 4 : 6;
        const { e } = this.endpoints(v, 'none');
        let echoId = rng.int(1, 0xffff);
        while (!this.claim(`icmp${v}`, e, echoId, echoId)) echoId = rng.int(1, 0xffff);
        this.sims.push(new EchoSim(order, startUs, e, echoId, rng.int(1, 4), this.ids(1), rng));
        break;
      }
      case 'udp_unreach': {
        let { e } = this.endpoints(4, 'none');
        while (!this.claim('icmp-error', e, 3, 3)) e = this.endpoints(4, 'none').e;
        const bPort = rng.int(33434, 33534);
        const aPort = this.uniquePort('udp', e, bPort);
        const first = this.ids(2);
        this.sims.push(new UnreachableSim(order, startUs, e, aPort, bPort, rng.int(1, 3), [first, first + 1], rng));
        break;
      }
      case 'dns_connect':
        this.addDnsLookup(startUs);
        break;
      case 'dns_shared':
        this.addSharedAddress(startUs);
        break;
      case 'dns_late':
        this.addLateAnswer(startUs);
        break;
    }
  }

  /** A lookup of `domain` answered with `v4Answers` (and an IPv6 one); returns when the A answer is on the wire. */
  private lookup(startUs: number, domain: string, v4Answers: Uint8Array[], ttl: number): { answeredUs: number; client: Uint8Array; v6Answer: Uint8Array } {
    const rng = this.rng;
    const client = rng.chance(0.7) ? CAPTURE_HOST.meshV4 : CAPTURE_HOST.lanV4;
    const resolver = rng.pick([Uint8Array.of(100, 100, 100, 100), Uint8Array.of(10, 0, 1, 53), Uint8Array.of(1, 1, 1, 1)]);
    const e: Endpoints = {
      v: 4,
      a: client,
      b: resolver,
      aMac: this.addresses.mac(client),
      bMac: this.addresses.mac(resolver),
      vlan: [],
      ext: IPV6_EXT_NONE,
      aLocal: true,
    };
    const aPort = this.uniquePort('udp', e, 53);
    const v6Answer = this.uniqueResolved(() => this.addresses.publicV6());
    const id = rng.int(0, 0xffff);
    const rttUs = rng.int(500, 40_000);
    const sim = new DnsSim(this.sims.length, startUs, e, aPort, this.ids(1), {
      queryA: dnsQuery(id, domain, 1),
      queryAAAA: dnsQuery((id + 1) & 0xffff, domain, 28),
      answerA: dnsResponse(id, domain, 1, v4Answers, ttl),
      answerAAAA: dnsResponse((id + 1) & 0xffff, domain, 28, [v6Answer], ttl),
    }, rttUs);
    this.sims.push(sim);
    const [tA, tAAAA] = sim.answerTimes();
    for (const address of v4Answers) this.dns.push({ domain, address: formatIp(address), ts_us: tA, ttl });
    this.dns.push({ domain, address: formatIp(v6Answer), ts_us: tAAAA, ttl });
    return { answeredUs: tA, client, v6Answer };
  }

  /** An HTTPS connection from `client` to `address` starting at `startUs`. */
  private connect(client: Uint8Array, address: Uint8Array, startUs: number, scenario: string): void {
    const ce: Endpoints = {
      v: 4,
      a: client,
      b: address,
      aMac: this.addresses.mac(client),
      bMac: this.addresses.mac(address),
      vlan: [],
      ext: IPV6_EXT_NONE,
      aLocal: true,
    };
    const port = this.uniquePort('tcp', ce, 443);
    this.sims.push(new TcpSim(this.sims.length, startUs, ce, port, 443, 'SF', this.ids(1), this.rng, scenario));
  }

  private nextDomain(): string {
    const base = DOMAINS[this.dns.length % DOMAINS.length];
    return this.dns.length < DOMAINS.length ? base : `n${this.dns.length}.${base}`;
  }

  /**
   * One address answered for two names (a CDN): the first with a long TTL, the second a
   * little later with a short one. Connections right after each answer take that answer's
   * name (the latest valid one); one after the second answer expired takes the first name again.
   */
  private addSharedAddress(startUs: number): void {
    const rng = this.rng;
    const address = this.uniqueResolved(() => this.addresses.publicV4());
    const first = this.lookup(startUs, this.nextDomain(), [address], SHARED_TTLS[0]);
    this.connect(first.client, address, first.answeredUs + rng.int(100, 20_000), 'tcp_sf_shared_first');
    const second = this.lookup(first.answeredUs + rng.int(1_000_000, 5_000_000), this.nextDomain(), [address], SHARED_TTLS[1]);
    this.connect(second.client, address, second.answeredUs + rng.int(100, 20_000), 'tcp_sf_shared_second');
    const expired = second.answeredUs + SHARED_TTLS[1] * 1e6 + rng.int(1_000_000, 5_000_000);
    this.connect(second.client, address, expired, 'tcp_sf_shared_after_expiry');
  }

  /**
   * A connection to an address before any answer names it; the answer comes just after the
   * connection started (while it runs, or after a short one ended): not that connection's
   * name. A second connection after the answer takes it.
   */
  private addLateAnswer(startUs: number): void {
    const rng = this.rng;
    const address = this.uniqueResolved(() => this.addresses.publicV4());
    const client = rng.chance(0.7) ? CAPTURE_HOST.meshV4 : CAPTURE_HOST.lanV4;
    this.connect(client, address, startUs, 'tcp_sf_before_answer');
    const answered = this.lookup(startUs + rng.int(30, 60), this.nextDomain(), [address], 3600);
    this.connect(client, address, answered.answeredUs + rng.int(100, 20_000), 'tcp_sf_after_late_answer');
  }

  /** A DNS lookup (A + AAAA) then TCP connections to the answered addresses. */
  private addDnsLookup(startUs: number): void {
    const rng = this.rng;
    const v4Answers = Array.from({ length: rng.int(1, 2) }, () => this.uniqueResolved(() => this.addresses.publicV4()));
    const { answeredUs, client, v6Answer } = this.lookup(startUs, this.nextDomain(), v4Answers, DNS_TTL);
    // connect to the first IPv4 answer, sometimes also to the IPv6 one
    this.connect(client, v4Answers[0], answeredUs + rng.int(100, 20_000), 'tcp_sf_after_dns');
    if (rng.chance(0.4)) this.connectV6(v6Answer, answeredUs + 35 + rng.int(100, 20_000));
  }

  private connectV6(address: Uint8Array, startUs: number): void {
    const local = CAPTURE_HOST.meshV6;
    const ce: Endpoints = {
      v: 6,
      a: local,
      b: address,
      aMac: this.addresses.mac(local),
      bMac: this.addresses.mac(address),
      vlan: [],
      ext: IPV6_EXT_NONE,
      aLocal: true,
    };
    const port = this.uniquePort('tcp', ce, 443);
    this.sims.push(new TcpSim(this.sims.length, startUs, ce, port, 443, 'SF', this.ids(1), this.rng, 'tcp_sf_after_dns'));
  }

  private uniqueResolved(make: () => Uint8Array): Uint8Array {
    for (;;) {
      const address = make();
      const text = formatIp(address);
      if (!this.resolved.has(text)) {
        this.resolved.add(text);
        return address;
      }
    }
  }
}

/** Splits `extra` data packets over the bulk-capable flows with heavy-tailed weights; exact total. */
function distributeDataPackets(sims: FlowSim[], extra: number, rng: Prng): void {
  const bulk = sims.filter((s) => s.bulk);
  if (bulk.length === 0 || extra <= 0) return;
  const weights = bulk.map(() => Math.min(rng.pareto(1.1), 1e4));
  const total = weights.reduce((a, b) => a + b, 0);
  let assigned = 0;
  bulk.forEach((s, i) => {
    s.dataPackets = Math.floor((extra * weights[i]) / total);
    assigned += s.dataPackets;
  });
  for (let i = 0; assigned < extra; i = (i + 1) % bulk.length, assigned++) bulk[i].dataPackets++;
}

/** Min-heap of simulators by (next packet time, plan order). */
class SimHeap {
  private readonly items: FlowSim[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): FlowSim {
    return this.items[0];
  }

  private less(x: FlowSim, y: FlowSim): boolean {
    return x.nextUs < y.nextUs || (x.nextUs === y.nextUs && x.order < y.order);
  }

  push(sim: FlowSim): void {
    const items = this.items;
    items.push(sim);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  /** Restores heap order after the top's nextUs grew, or removes the top when it is done. */
  fixTop(remove: boolean): void {
    const items = this.items;
    let top = items[0];
    if (remove) {
      top = items.pop()!;
      if (items.length === 0) return;
    }
    const n = items.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.less(items[r], items[l]) ? r : l;
      if (!this.less(items[child], top)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = top;
  }
}

function defaultTruthPath(pcapPath: string): string {
  const ext = path.extname(pcapPath);
  return `${ext ? pcapPath.slice(0, -ext.length) : pcapPath}.truth.json`;
}

export async function generateCapture(options: GenerateOptions): Promise<GeneratedCapture> {
  const seed = options.seed ?? 1;
  const linkType = options.linkType ?? 'ethernet';
  if (!(linkType in SYNTH_LINK_TYPES)) throw new Error(`unknown link type '${linkType}' (use ethernet, raw, sll, sll2 or null)`);
  const snapLen = options.snapLen ?? SYNTH_SNAPLEN;
  if (!Number.isInteger(snapLen) || snapLen < 64 || snapLen > SYNTH_SNAPLEN) throw new Error(`snapLen must be an integer in 64..${SYNTH_SNAPLEN}`);
  const targetFlows = options.flows ?? (options.packets ? Math.min(Math.max(Math.round(options.packets / 250), 50), 100_000) : 200);
  if (!Number.isInteger(targetFlows) || targetFlows < 1) throw new Error('flows must be a positive integer');
  const startUs = options.startUs ?? EPOCH_2026_US + (seed % 86_400) * 1_000_000;
  const pcapPath = options.out;
  const truthPath = options.truth ?? defaultTruthPath(pcapPath);
  const rng = new Prng(seed);

  const planner = new Planner(rng, linkType);
  const windowUs = Math.min(Math.max(targetFlows * 40_000, 5_000_000), 3_600_000_000);
  while (planner.flows < targetFlows) planner.addUnit(startUs + Math.floor(rng.next() * windowUs));
  const sims = planner.sims;
  const fixed = sims.reduce((n, s) => n + s.fixedPackets(), 0);
  if (options.packets !== undefined) distributeDataPackets(sims, options.packets - fixed, rng);
  else for (const s of sims) if (s.bulk) s.dataPackets = Math.min(Math.floor(rng.pareto(1.2) * 3), 300);

  fs.mkdirSync(path.dirname(path.resolve(pcapPath)), { recursive: true });
  const writer = new PcapWriter(pcapPath, SYNTH_LINK_TYPES[linkType]);
  const builder = new PacketBuilder(writer, linkType, snapLen);
  const heap = new SimHeap();
  for (const s of sims) heap.push(s);
  let packets = 0;
  let frameBytes = 0;
  let capturedBytes = 0;
  let ipBytes = 0;
  try {
    while (heap.size > 0) {
      const sim = heap.peek();
      sim.step(builder, rng);
      packets++;
      frameBytes += builder.frameBytes;
      capturedBytes += Math.min(builder.frameBytes, snapLen);
      ipBytes += builder.ipBytes;
      heap.fixTop(sim.done);
      if ((packets & 0xffff) === 0) {
        options.onProgress?.(packets);
        await new Promise<void>((resolve) => setImmediate(resolve)); // let timers and I/O run during long runs
      }
    }
  } finally {
    writer.close();
  }

  const flows = sims.flatMap((s) => s.truths);
  const hostAddresses = [CAPTURE_HOST.meshV4, CAPTURE_HOST.lanV4, CAPTURE_HOST.meshV6].map(formatIp);
  for (const f of flows) f.direction = hostAddresses.includes(f.src_ip) ? 'outbound' : hostAddresses.includes(f.dst_ip) ? 'inbound' : 'forwarded';
  annotateDomains(flows, planner.dns);
  flows.sort((x, y) => x.first_us - y.first_us || x.id - y.id);
  const summary: CaptureSummary = {
    packets,
    frame_bytes: frameBytes,
    captured_bytes: capturedBytes,
    ip_bytes: ipBytes,
    flows: flows.length,
    flows_by_protocol: countBy(flows, (f) => f.protocol),
    flows_by_conn_state: countBy(flows, (f) => f.conn_state),
    fragments: flows.reduce((n, f) => n + f.fragments, 0),
    first_us: flows.reduce((m, f) => Math.min(m, f.first_us), Infinity),
    last_us: flows.reduce((m, f) => Math.max(m, f.last_us), 0),
    file_bytes: writer.bytesWritten,
  };
  const truth: CaptureTruth = {
    format: 'flowmesh-synth-truth',
    version: 2,
    seed,
    link_type: linkType,
    link_type_number: SYNTH_LINK_TYPES[linkType],
    snap_len: snapLen,
    capture_host: hostAddresses,
    summary,
    dns: planner.dns,
    flows,
  };
  fs.writeFileSync(truthPath, JSON.stringify(truth, null, 1));
  return { pcapPath, truthPath, summary };
}

/**
 * dst_domain: of the answers naming dst_ip at or before the flow's first packet and still
 * valid then (within their TTL), the latest one.
 */
function annotateDomains(flows: TruthFlow[], answers: DnsAnswerTruth[]): void {
  const byAddress = new Map<string, DnsAnswerTruth[]>();
  for (const answer of answers) byAddress.set(answer.address, [...(byAddress.get(answer.address) ?? []), answer]);
  for (const flow of flows) {
    const valid = (byAddress.get(flow.dst_ip) ?? []).filter((a) => a.ts_us <= flow.first_us && flow.first_us <= a.ts_us + a.ttl * 1e6);
    const latest = valid.reduce<DnsAnswerTruth | undefined>((best, a) => (best && best.ts_us >= a.ts_us ? best : a), undefined);
    if (latest) flow.dst_domain = latest.domain;
  }
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

export function readTruth(truthPath: string): CaptureTruth {
  return JSON.parse(fs.readFileSync(truthPath, 'utf8')) as CaptureTruth;
}
