/**
 * Flow simulators: each produces the packets of one connection (or, for an unreachable
 * probe, a UDP flow plus the ICMP error flow it causes), one packet per step, and records
 * the ground truth from what it wrote: per-direction packets, IP and frame bytes, TCP
 * flags per side, first/last timestamps, and the Zeek conn_state the scenario produces.
 * Gaps inside a flow stay below 10 s so no idle timeout splits it.
 */
import type { Endpoints, PacketBuilder } from './builder';
import { IPV6_EXT_DEST_OPTIONS, IPV6_EXT_HOP_BY_HOP } from './builder';
import { formatIp } from './addresses';
import type { Prng } from './prng';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

/** Ground truth for one flow (snake_case like the flow record). */
export interface TruthFlow {
  id: number;
  scenario: string;
  protocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6';
  protocol_number: number;
  ip_version: 4 | 6;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
  icmp_type: number | null;
  icmp_code: number | null;
  /** ICMP echo identifier (plays the port in the flow key). */
  icmp_id: number | null;
  packets_tx: number;
  packets_rx: number;
  /** IP-layer bytes (header + payload) sent by src / by dst. */
  bytes_tx: number;
  bytes_rx: number;
  /** Frame bytes on the wire (link header, padding included), as tshark counts them. */
  frame_bytes_tx: number;
  frame_bytes_rx: number;
  tcp_flags_src: number;
  tcp_flags_dst: number;
  first_us: number;
  last_us: number;
  conn_state: string;
  vlan: number[];
  ipv6_ext: 'hop_by_hop' | 'destination_options' | null;
  /** IPv4 fragments among the flow's packets (later fragments carry no transport header). */
  fragments: number;
  /**
   * Domain dst_ip was resolved from: of the DNS answers for it seen at or before first_us
   * and still valid then (within their TTL), the latest one ('' if none).
   */
  dst_domain: string;
  /** TCP handshake legs as written: first SYN -> first SYN/ACK -> first ACK after it, µs (null when incomplete). */
  tcp_synack_us: number | null;
  tcp_ack_us: number | null;
  /** DNS flows: the first answered query's response time, µs (null when none). */
  dns_rtt_us: number | null;
  /** From the capturing host's view (its addresses are CaptureTruth.capture_host). */
  direction: 'outbound' | 'inbound' | 'forwarded';
}

export function newTruth(
  id: number,
  scenario: string,
  protocolNumber: number,
  e: Endpoints,
  srcIsA: boolean,
  srcPort: number,
  dstPort: number,
  connState: string,
): TruthFlow {
  const protocol = protocolNumber === 6 ? 'tcp' : protocolNumber === 17 ? 'udp' : protocolNumber === 1 ? 'icmp' : 'icmpv6';
  return {
    id,
    scenario,
    protocol,
    protocol_number: protocolNumber,
    ip_version: e.v,
    src_ip: formatIp(srcIsA ? e.a : e.b),
    src_port: srcPort,
    dst_ip: formatIp(srcIsA ? e.b : e.a),
    dst_port: dstPort,
    icmp_type: null,
    icmp_code: null,
    icmp_id: null,
    packets_tx: 0,
    packets_rx: 0,
    bytes_tx: 0,
    bytes_rx: 0,
    frame_bytes_tx: 0,
    frame_bytes_rx: 0,
    tcp_flags_src: 0,
    tcp_flags_dst: 0,
    first_us: 0,
    last_us: 0,
    conn_state: connState,
    vlan: [...e.vlan],
    ipv6_ext: e.v === 6 && e.ext === IPV6_EXT_HOP_BY_HOP ? 'hop_by_hop' : e.v === 6 && e.ext === IPV6_EXT_DEST_OPTIONS ? 'destination_options' : null,
    fragments: 0,
    dst_domain: '',
    tcp_synack_us: null,
    tcp_ack_us: null,
    dns_rtt_us: null,
    direction: 'forwarded',
  };
}

/** Adds the packet just written to a truth record; `fromSrc` = sent by the record's src. */
function account(t: TruthFlow, b: PacketBuilder, fromSrc: boolean, tsUs: number, tcpFlags: number): void {
  if (fromSrc) {
    t.packets_tx++;
    t.bytes_tx += b.ipBytes;
    t.frame_bytes_tx += b.frameBytes;
    t.tcp_flags_src |= tcpFlags;
  } else {
    t.packets_rx++;
    t.bytes_rx += b.ipBytes;
    t.frame_bytes_rx += b.frameBytes;
    t.tcp_flags_dst |= tcpFlags;
  }
  if (t.first_us === 0) t.first_us = tsUs;
  t.last_us = tsUs;
}

/** One simulated connection; the generator merges simulators by next packet time. */
export abstract class FlowSim {
  nextUs: number;
  done = false;
  /** Data packets on top of the fixed ones (set by the planner for bulk-capable flows). */
  dataPackets = 0;
  protected emitted = 0;
  abstract readonly truths: TruthFlow[];
  /** True when the flow can carry any number of data packets. */
  abstract readonly bulk: boolean;

  constructor(
    readonly order: number,
    startUs: number,
    protected readonly e: Endpoints,
  ) {
    this.nextUs = startUs;
  }

  /** Packets the flow sends besides dataPackets. */
  abstract fixedPackets(): number;

  /** Writes the packet due at nextUs, then schedules the next one (or sets done). */
  abstract step(b: PacketBuilder, rng: Prng): void;

  protected advance(gapUs: number): void {
    this.emitted++;
    if (this.emitted >= this.fixedPackets() + this.dataPackets) this.done = true;
    else this.nextUs += Math.max(1, Math.round(gapUs));
  }
}

/** Gap inside a flow: mostly sub-millisecond to milliseconds, sometimes a think pause; always < 10 s. */
function dataGap(rng: Prng, meanUs: number): number {
  if (rng.chance(0.005)) return Math.min(rng.exp(300_000), 5_000_000);
  return Math.min(rng.exp(meanUs), 2_000_000) + 5;
}

export type TcpKind = 'SF' | 'S0' | 'REJ' | 'RSTO' | 'RSTR' | 'OTH';
type Step = readonly [fromInitiator: boolean, flags: number];

export class TcpSim extends FlowSim {
  readonly truths: TruthFlow[];
  readonly bulk: boolean;
  private readonly prologue: Step[];
  private readonly epilogue: Step[];
  private readonly rttUs: number;
  private readonly gapMeanUs: number;
  private readonly mss: number;
  private readonly isnA: number;
  private readonly isnB: number;
  private seqA: number;
  private seqB: number;
  private readonly truth: TruthFlow;
  /** Times of the first SYN (A) and the first SYN/ACK (B) after it; -1 until written. */
  private readonly handshake: HandshakeTimes = { synUs: -1, synAckUs: -1 };

  constructor(
    order: number,
    startUs: number,
    e: Endpoints,
    private readonly aPort: number,
    private readonly bPort: number,
    kind: TcpKind,
    id: number,
    rng: Prng,
    scenario = `tcp_${kind.toLowerCase()}`,
  ) {
    super(order, startUs, e);
    this.truth = newTruth(id, scenario, 6, e, true, aPort, bPort, kind);
    this.truths = [this.truth];
    this.rttUs = rng.int(200, 60_000);
    this.gapMeanUs = rng.int(100, 5_000);
    this.mss = e.v === 4 ? 1448 : 1428;
    this.isnA = rng.u32();
    this.isnB = rng.u32();
    this.seqA = this.isnA;
    this.seqB = this.isnB;
    const handshake: Step[] = [[true, SYN], [false, SYN | ACK], [true, ACK]];
    this.bulk = kind === 'SF' || kind === 'RSTO' || kind === 'RSTR' || kind === 'OTH';
    switch (kind) {
      case 'SF': {
        this.prologue = handshake;
        const variant = rng.int(0, 2);
        this.epilogue =
          variant === 0
            ? [[true, FIN | ACK], [false, ACK], [false, FIN | ACK], [true, ACK]]
            : variant === 1
              ? [[true, FIN | ACK], [false, FIN | ACK], [true, ACK]]
              : [[false, FIN | ACK], [true, FIN | ACK], [false, ACK]];
        break;
      }
      case 'S0':
        this.prologue = Array.from({ length: rng.int(1, 3) }, (): Step => [true, SYN]);
        this.epilogue = [];
        break;
      case 'REJ':
        this.prologue = [[true, SYN], [false, RST | ACK]];
        this.epilogue = [];
        break;
      case 'RSTO':
        this.prologue = handshake;
        this.epilogue = [[true, rng.chance(0.5) ? RST : RST | ACK]];
        break;
      case 'RSTR':
        this.prologue = handshake;
        this.epilogue = [[false, rng.chance(0.5) ? RST : RST | ACK]];
        break;
      case 'OTH':
        // capture started mid-connection: no SYN, and the server's packet is seen first
        this.prologue = [[false, PSH | ACK], [true, ACK]];
        this.epilogue = [];
        break;
    }
  }

  fixedPackets(): number {
    return this.prologue.length + this.epilogue.length;
  }

  step(b: PacketBuilder, rng: Prng): void {
    const i = this.emitted;
    const pro = this.prologue.length;
    let fromA: boolean;
    let flags: number;
    let payload = 0;
    if (i < pro) {
      [fromA, flags] = this.prologue[i];
      if (flags === (PSH | ACK)) payload = rng.int(100, this.mss);
    } else if (i < pro + this.dataPackets) {
      const d = i - pro;
      // the first exchange is a request then a response; then mostly server data with client ACKs
      fromA = d === 0 ? true : d === 1 ? false : rng.chance(0.4);
      if (fromA) payload = d === 0 ? rng.int(40, 600) : rng.chance(0.7) ? 0 : rng.int(1, 600);
      else payload = rng.chance(0.6) ? this.mss : rng.int(1, this.mss);
      flags = ACK | (payload > 0 && (d < 2 || rng.chance(0.3)) ? PSH : 0);
    } else {
      [fromA, flags] = this.epilogue[i - pro - this.dataPackets];
    }
    // a SYN (or its retransmission) always carries the initial sequence number
    const seq = flags & SYN ? (fromA ? this.isnA : this.isnB) : fromA ? this.seqA : this.seqB;
    const ack = fromA ? this.seqB : this.seqA;
    b.tcp(this.nextUs, this.e, fromA, fromA ? this.aPort : this.bPort, fromA ? this.bPort : this.aPort, seq, ack, flags, payload);
    const next = (seq + payload + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) >>> 0;
    if (fromA) this.seqA = next;
    else this.seqB = next;
    account(this.truth, b, fromA, this.nextUs, flags);
    timeHandshake(this.truth, this.handshake, fromA, flags, this.nextUs);

    // next gap: SYN retransmissions back off 1 s, 2 s; a reply takes about an RTT
    let gap: number;
    if (flags === SYN && this.truth.conn_state === 'S0') gap = 1_000_000 * (i + 1);
    else if (i + 1 < pro || i + 1 >= pro + this.dataPackets) gap = this.rttUs * (0.5 + rng.next() * 0.5);
    else gap = dataGap(rng, this.gapMeanUs);
    this.advance(gap);
  }
}

export interface HandshakeTimes {
  synUs: number;
  synAckUs: number;
}

/**
 * The handshake legs of the packet just written: the first SYN from A starts it, the first
 * SYN/ACK from B after that ends the first leg, the first plain ACK from A after that the second.
 */
function timeHandshake(t: TruthFlow, times: HandshakeTimes, fromA: boolean, flags: number, tsUs: number): void {
  const kind = flags & (SYN | ACK | RST);
  if (fromA && kind === SYN && times.synUs < 0) times.synUs = tsUs;
  else if (!fromA && kind === (SYN | ACK) && times.synUs >= 0 && times.synAckUs < 0) times.synAckUs = tsUs;
  else if (fromA && kind === ACK && times.synAckUs >= 0 && t.tcp_ack_us === null) {
    t.tcp_synack_us = times.synAckUs - times.synUs;
    t.tcp_ack_us = tsUs - times.synAckUs;
  }
}

/** UDP request/response exchanges (n requests, n responses). */
export class UdpSim extends FlowSim {
  readonly truths: TruthFlow[];
  readonly bulk = false;
  private readonly truth: TruthFlow;
  private readonly rttUs: number;

  constructor(
    order: number,
    startUs: number,
    e: Endpoints,
    private readonly aPort: number,
    private readonly bPort: number,
    private readonly exchanges: number,
    private readonly requestLen: number,
    private readonly responseLen: number,
    id: number,
    rng: Prng,
  ) {
    super(order, startUs, e);
    this.truth = newTruth(id, 'udp_request_response', 17, e, true, aPort, bPort, 'SF');
    this.truths = [this.truth];
    this.rttUs = rng.int(200, 80_000);
  }

  fixedPackets(): number {
    return this.exchanges * 2;
  }

  step(b: PacketBuilder, rng: Prng): void {
    const fromA = this.emitted % 2 === 0;
    b.udp(this.nextUs, this.e, fromA, fromA ? this.aPort : this.bPort, fromA ? this.bPort : this.aPort, fromA ? this.requestLen : this.responseLen);
    account(this.truth, b, fromA, this.nextUs, 0);
    this.advance(fromA ? this.rttUs : rng.int(1_000, 3_000_000));
  }
}

export interface DnsAnswerTruth {
  domain: string;
  address: string;
  /** When the answer was seen (response timestamp). */
  ts_us: number;
  ttl: number;
}

/** One client socket asking A and AAAA for a name; both answered. */
export class DnsSim extends FlowSim {
  readonly truths: TruthFlow[];
  readonly bulk = false;
  private readonly truth: TruthFlow;
  /** Packet schedule: [offset from start µs, from client, payload]. */
  private readonly schedule: Array<readonly [number, boolean, Uint8Array]>;
  private readonly startUs: number;

  constructor(
    order: number,
    startUs: number,
    e: Endpoints,
    private readonly aPort: number,
    id: number,
    messages: { queryA: Uint8Array; queryAAAA: Uint8Array; answerA: Uint8Array; answerAAAA: Uint8Array },
    rttUs: number,
  ) {
    super(order, startUs, e);
    this.startUs = startUs;
    this.truth = newTruth(id, 'dns', 17, e, true, aPort, 53, 'SF');
    this.truths = [this.truth];
    this.schedule = [
      [0, true, messages.queryA],
      [40, true, messages.queryAAAA],
      [rttUs, false, messages.answerA],
      [rttUs + 35, false, messages.answerAAAA],
    ];
  }

  /** The first query waited for: its id and time (null when none is outstanding). */
  private awaited: { id: number; us: number } | null = null;

  /** Response time of the first query answered (a query sent while another is awaited is not timed). */
  private timeResponse(query: boolean, id: number): void {
    if (query) {
      this.awaited ??= { id, us: this.nextUs };
    } else if (this.awaited?.id === id) {
      this.truth.dns_rtt_us ??= this.nextUs - this.awaited.us;
      this.awaited = null;
    }
  }

  /** When the A and AAAA answers are on the wire. */
  answerTimes(): [number, number] {
    return [this.startUs + this.schedule[2][0], this.startUs + this.schedule[3][0]];
  }

  fixedPackets(): number {
    return this.schedule.length;
  }

  step(b: PacketBuilder): void {
    const [, fromA, payload] = this.schedule[this.emitted];
    b.udp(this.nextUs, this.e, fromA, fromA ? this.aPort : 53, fromA ? 53 : this.aPort, payload.length, payload);
    account(this.truth, b, fromA, this.nextUs, 0);
    this.timeResponse(fromA, (payload[0] << 8) | payload[1]);
    const next = this.schedule[this.emitted + 1];
    this.advance(next ? this.startUs + next[0] - this.nextUs : 0);
  }
}

/** A small UDP request answered by a large datagram sent as IPv4 fragments (first fragment first). */
export class FragmentedUdpSim extends FlowSim {
  readonly truths: TruthFlow[];
  readonly bulk = false;
  private readonly truth: TruthFlow;
  /** Per packet: -1 = request, else the fragment's byte offset within the response datagram. */
  private readonly plan: number[] = [];
  private readonly udpLen: number;
  private ipId: number;
  private readonly rttUs: number;

  constructor(
    order: number,
    startUs: number,
    e: Endpoints,
    private readonly aPort: number,
    private readonly bPort: number,
    exchanges: number,
    private readonly responsePayload: number,
    id: number,
    rng: Prng,
  ) {
    super(order, startUs, e);
    this.truth = newTruth(id, 'udp_fragmented', 17, e, true, aPort, bPort, 'SF');
    this.truths = [this.truth];
    this.udpLen = 8 + responsePayload;
    this.ipId = rng.int(1, 0xfff0);
    this.rttUs = rng.int(500, 40_000);
    for (let x = 0; x < exchanges; x++) {
      this.plan.push(-1);
      for (let off = 0; off < this.udpLen; off += FragmentedUdpSim.FRAGMENT_DATA) this.plan.push(off);
    }
  }

  /** Data bytes per full fragment (1500-byte MTU, multiple of 8). */
  static readonly FRAGMENT_DATA = 1480;

  fixedPackets(): number {
    return this.plan.length;
  }

  step(b: PacketBuilder, rng: Prng): void {
    const offset = this.plan[this.emitted];
    if (offset < 0) {
      b.udp(this.nextUs, this.e, true, this.aPort, this.bPort, 32);
      account(this.truth, b, true, this.nextUs, 0);
      this.advance(this.rttUs);
      return;
    }
    const dataLen = Math.min(FragmentedUdpSim.FRAGMENT_DATA, this.udpLen - offset);
    const more = offset + dataLen < this.udpLen;
    b.udpFragment(this.nextUs, this.e, false, this.bPort, this.aPort, this.responsePayload, this.ipId, offset, dataLen, more);
    account(this.truth, b, false, this.nextUs, 0);
    this.truth.fragments++;
    if (!more) this.ipId = (this.ipId + 1) & 0xffff;
    this.advance(more ? rng.int(5, 30) : rng.int(200_000, 2_000_000));
  }
}

/** ICMP or ICMPv6 echo request/reply pairs, one second apart. */
export class EchoSim extends FlowSim {
  readonly truths: TruthFlow[];
  readonly bulk = false;
  private readonly truth: TruthFlow;
  private readonly rttUs: number;

  constructor(
    order: number,
    startUs: number,
    e: Endpoints,
    private readonly echoId: number,
    private readonly pairs: number,
    id: number,
    rng: Prng,
  ) {
    super(order, startUs, e);
    const v4 = e.v === 4;
    this.truth = newTruth(id, v4 ? 'icmp_echo' : 'icmpv6_echo', v4 ? 1 : 58, e, true, 0, 0, 'SF');
    this.truth.icmp_type = v4 ? 8 : 128;
    this.truth.icmp_code = 0;
    this.truth.icmp_id = echoId;
    this.truths = [this.truth];
    this.rttUs = rng.int(300, 90_000);
  }

  fixedPackets(): number {
    return this.pairs * 2;
  }

  step(b: PacketBuilder): void {
    const request = this.emitted % 2 === 0;
    const type = this.e.v === 4 ? (request ? 8 : 0) : request ? 128 : 129;
    b.icmpEcho(this.nextUs, this.e, request, type, this.echoId, (this.emitted >> 1) + 1, 56);
    account(this.truth, b, request, this.nextUs, 0);
    this.advance(request ? this.rttUs : 1_000_000 - this.rttUs);
  }
}

/**
 * UDP probes to a closed port, each answered by ICMP port unreachable (3/3) quoting it:
 * two flows, the one-way UDP flow (S0) and the one-way ICMP flow started by the responder.
 */
export class UnreachableSim extends FlowSim {
  readonly truths: TruthFlow[];
  readonly bulk = false;
  private readonly udpTruth: TruthFlow;
  private readonly icmpTruth: TruthFlow;
  private readonly quote: Uint8Array;
  private readonly rttUs: number;

  constructor(
    order: number,
    startUs: number,
    e: Endpoints,
    private readonly aPort: number,
    private readonly bPort: number,
    private readonly probes: number,
    ids: [number, number],
    rng: Prng,
  ) {
    super(order, startUs, e);
    this.udpTruth = newTruth(ids[0], 'udp_unreachable', 17, e, true, aPort, bPort, 'S0');
    this.icmpTruth = newTruth(ids[1], 'icmp_unreachable', 1, e, false, 0, 0, 'S0');
    this.icmpTruth.icmp_type = 3;
    this.icmpTruth.icmp_code = 3;
    this.truths = [this.udpTruth, this.icmpTruth];
    this.rttUs = rng.int(300, 30_000);
    // the quoted packet: the probe's IPv4 header and UDP header
    const q = new Uint8Array(28);
    q[0] = 0x45;
    q[2] = 0;
    q[3] = 28 + 12;
    q[8] = 64;
    q[9] = 17;
    q.set(e.a, 12);
    q.set(e.b, 16);
    q[20] = aPort >> 8;
    q[21] = aPort & 0xff;
    q[22] = bPort >> 8;
    q[23] = bPort & 0xff;
    q[25] = 8 + 12;
    this.quote = q;
  }

  fixedPackets(): number {
    return this.probes * 2;
  }

  step(b: PacketBuilder): void {
    const probe = this.emitted % 2 === 0;
    if (probe) {
      b.udp(this.nextUs, this.e, true, this.aPort, this.bPort, 12);
      account(this.udpTruth, b, true, this.nextUs, 0);
    } else {
      b.icmpError(this.nextUs, this.e, false, 3, 3, this.quote);
      account(this.icmpTruth, b, true, this.nextUs, 0);
    }
    this.advance(probe ? this.rttUs : 1_000_000 - this.rttUs);
  }
}
