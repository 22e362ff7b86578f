/**
 * The flow table: aggregates decoded packets into bidirectional flows and emits FlowRecords.
 *
 * Layout (all preallocated, nothing allocated per packet):
 *  - flows live in a fixed pool of `maxFlows` slots; every per-flow field is a typed array
 *    indexed by the flow's pool index (struct of arrays);
 *  - an open-addressing hash table (linear probing, load <= 0.5, backward-shift deletion)
 *    maps the normalised key (10 uint32 words) to a pool index;
 *  - every flow sits in exactly one doubly linked LRU list per timeout class (TCP
 *    unestablished / established / closing, UDP, ICMP, other), ordered by last activity, so
 *    idle expiry looks only at list heads and eviction takes the least recently active head.
 *
 * Per-flow objects (addresses as text, names, direction, Community ID) are built once, when
 * the flow is created; record objects only when a record is emitted.
 *
 * Time is packet time. A packet that reaches an expired flow (idle timeout or TCP linger
 * passed) ends that flow first and starts a new one, and a packet arriving after the active
 * timeout closes the current period as an interim record first, so records do not depend on
 * how often the sweep (`advanceTime`) runs.
 */
import type { DecodedPacket } from '../decode/packet';
import { TCP_FLAGS, type Direction, type EndReason, type EndpointType, type FlowRecord, type FlowSink } from '../model/flow';
import { communityIdV1, icmpCounterpart } from '../flow/communityId';
import { TcpConnStates, connStateWithoutTcp } from '../flow/connState';
import { formatIp } from '../flow/addresses';
import {
  PROTO_SCTP, PROTO_TCP, PROTO_UDP, isIcmp, isIcmpEcho, isIcmpReply, isServicePort, protocolName,
} from '../flow/protocols';
import { randomBytes } from 'node:crypto';

export interface FlowTimeouts {
  /** Emit an interim record when a flow's current period is older than this. */
  activeTimeoutS: number;
  tcpEstablishedS: number;
  /** TCP flows until both sides have sent something. */
  tcpUnestablishedS: number;
  udpS: number;
  icmpS: number;
  otherS: number;
  /** After FIN from both sides or a RST, stragglers still join the flow for this long. */
  tcpLingerS: number;
}

export const DEFAULT_TIMEOUTS: FlowTimeouts = {
  activeTimeoutS: 60,
  tcpEstablishedS: 300,
  tcpUnestablishedS: 30,
  udpS: 60,
  icmpS: 30,
  otherS: 60,
  tcpLingerS: 2,
};

export const DEFAULT_MAX_FLOWS = 262144;

/** Names and direction of a flow's endpoints; consulted once per flow (creation). */
export interface FlowAnnotator {
  direction(src: Uint8Array, dst: Uint8Array, version: 4 | 6): Direction;
  endpoint(ip: string, bytes: Uint8Array, version: 4 | 6): { name: string; type: EndpointType };
  /** Domain the address was resolved from (DNS seen on the wire), '' when unknown. */
  domain(ip: string, nowUs: number): string;
}

export interface FlowTableOptions {
  node: string;
  /** Capture interface, or the file name for imports (the record's `interface`). */
  interfaceName: string;
  maxFlows?: number;
  timeouts?: Partial<FlowTimeouts>;
  annotator: FlowAnnotator;
  /** Prefix of flow ids (default: random per process, so ids are unique across restarts). */
  bootId?: string;
}

export interface FlowTableStats {
  activeFlows: number;
  flowsCreated: number;
  recordsEmitted: number;
  evictions: number;
}

/** Per-flow values fixed at creation. */
interface FlowMeta {
  flowId: string;
  interfaceName: string;
  direction: Direction;
  ipVersion: 4 | 6;
  protocol: string;
  protocolNumber: number;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  srcName: string;
  srcType: EndpointType;
  dstName: string;
  dstType: EndpointType;
  dstDomain: string;
  icmpType: number | null;
  icmpCode: number | null;
  communityId: string;
}

const KEY_WORDS = 10;
const KIND_PORTS = 0;
const KIND_ICMP_ECHO = 1;
const KIND_ICMP_OTHER = 2;

const CLASS_TCP_UNESTABLISHED = 0;
const CLASS_TCP_ESTABLISHED = 1;
const CLASS_TCP_CLOSING = 2;
const CLASS_UDP = 3;
const CLASS_ICMP = 4;
const CLASS_OTHER = 5;
const CLASS_COUNT = 6;

const CLOSE_NONE = 0;
const CLOSE_FIN = 1;
const CLOSE_RST = 2;

const SENT_SRC = 1;
const SENT_DST = 2;

const SWEEP_INTERVAL_US = 1_000_000;

const { FIN, SYN, RST, ACK } = TCP_FLAGS;

export class FlowTable {
  private readonly mask: number;
  private readonly slots: Int32Array;

  private readonly keys: Uint32Array;
  private readonly hashes: Uint32Array;
  private readonly slotOf: Int32Array;
  private readonly freeList: Int32Array;
  private freeCount: number;

  private readonly initiatorIsLow: Uint8Array;
  private readonly timeoutClass: Uint8Array;
  private readonly lruPrev: Int32Array;
  private readonly lruNext: Int32Array;
  private readonly classHead = new Int32Array(CLASS_COUNT).fill(-1);
  private readonly classTail = new Int32Array(CLASS_COUNT).fill(-1);
  private readonly classTimeoutUs = new Float64Array(CLASS_COUNT);
  private readonly activeTimeoutUs: number;

  private readonly flowStartUs: Float64Array;
  private readonly periodStartUs: Float64Array;
  private readonly lastUs: Float64Array;
  private readonly packetsTx: Float64Array;
  private readonly packetsRx: Float64Array;
  private readonly bytesTx: Float64Array;
  private readonly bytesRx: Float64Array;
  private readonly flagsSrc: Uint8Array;
  private readonly flagsDst: Uint8Array;
  private readonly cumFlagsSrc: Uint8Array;
  private readonly cumFlagsDst: Uint8Array;
  private readonly sent: Uint8Array;
  private readonly closing: Uint8Array;
  private readonly seq: Uint32Array;
  private readonly protocolOf: Uint8Array;
  private readonly tcp: TcpConnStates;
  private readonly meta: (FlowMeta | undefined)[];

  // per-packet scratch
  private readonly key = new Uint32Array(KEY_WORDS);
  private readonly srcWords = new Uint32Array(4);
  private readonly dstWords = new Uint32Array(4);

  private nextSweepUs = 0;
  private nowUs = 0;
  private flowCounter = 0;
  private readonly bootId: string;
  private readonly stats_ = { flowsCreated: 0, recordsEmitted: 0, evictions: 0 };

  readonly node: string;
  /** Interface name stamped on flows created from now on (imports switch it per file). */
  interfaceName: string;
  private readonly annotator: FlowAnnotator;

  constructor(options: FlowTableOptions, private readonly sink: FlowSink) {
    const maxFlows = options.maxFlows ?? DEFAULT_MAX_FLOWS;
    if (!Number.isInteger(maxFlows) || maxFlows < 1) throw new Error(`max_flows must be a positive integer, got ${maxFlows}`);
    const t = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.node = options.node;
    this.interfaceName = options.interfaceName;
    this.annotator = options.annotator;
    this.bootId = options.bootId ?? randomBytes(4).toString('hex');

    let cap = 16;
    while (cap < maxFlows * 2) cap *= 2;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap).fill(-1);

    this.keys = new Uint32Array(maxFlows * KEY_WORDS);
    this.hashes = new Uint32Array(maxFlows);
    this.slotOf = new Int32Array(maxFlows);
    this.freeList = new Int32Array(maxFlows);
    for (let i = 0; i < maxFlows; i++) this.freeList[i] = maxFlows - 1 - i;
    this.freeCount = maxFlows;

    this.initiatorIsLow = new Uint8Array(maxFlows);
    this.timeoutClass = new Uint8Array(maxFlows);
    this.lruPrev = new Int32Array(maxFlows);
    this.lruNext = new Int32Array(maxFlows);
    this.flowStartUs = new Float64Array(maxFlows);
    this.periodStartUs = new Float64Array(maxFlows);
    this.lastUs = new Float64Array(maxFlows);
    this.packetsTx = new Float64Array(maxFlows);
    this.packetsRx = new Float64Array(maxFlows);
    this.bytesTx = new Float64Array(maxFlows);
    this.bytesRx = new Float64Array(maxFlows);
    this.flagsSrc = new Uint8Array(maxFlows);
    this.flagsDst = new Uint8Array(maxFlows);
    this.cumFlagsSrc = new Uint8Array(maxFlows);
    this.cumFlagsDst = new Uint8Array(maxFlows);
    this.sent = new Uint8Array(maxFlows);
    this.closing = new Uint8Array(maxFlows);
    this.seq = new Uint32Array(maxFlows);
    this.protocolOf = new Uint8Array(maxFlows);
    this.tcp = new TcpConnStates(maxFlows);
    this.meta = new Array<FlowMeta | undefined>(maxFlows).fill(undefined);

    const us = (s: number) => s * 1e6;
    this.classTimeoutUs[CLASS_TCP_UNESTABLISHED] = us(t.tcpUnestablishedS);
    this.classTimeoutUs[CLASS_TCP_ESTABLISHED] = us(t.tcpEstablishedS);
    this.classTimeoutUs[CLASS_TCP_CLOSING] = us(t.tcpLingerS);
    this.classTimeoutUs[CLASS_UDP] = us(t.udpS);
    this.classTimeoutUs[CLASS_ICMP] = us(t.icmpS);
    this.classTimeoutUs[CLASS_OTHER] = us(t.otherS);
    this.activeTimeoutUs = us(t.activeTimeoutS);
  }

  get maxFlows(): number {
    return this.hashes.length;
  }

  get stats(): FlowTableStats {
    return { activeFlows: this.maxFlows - this.freeCount, ...this.stats_ };
  }

  /** Adds one decoded packet (with transport fields) to its flow. */
  process(p: DecodedPacket): void {
    const now = p.tsUs;
    if (now > this.nowUs) this.nowUs = now;
    if (now >= this.nextSweepUs) this.advanceTime(now);

    const protocol = p.protocol;
    const v6 = p.ipVersion === 6;
    readWords(p.srcAddr, v6, this.srcWords);
    readWords(p.dstAddr, v6, this.dstWords);
    let kind = KIND_PORTS;
    let srcPort = 0;
    let dstPort = 0;
    if (protocol === PROTO_TCP || protocol === PROTO_UDP || protocol === PROTO_SCTP) {
      srcPort = p.srcPort;
      dstPort = p.dstPort;
    } else if (isIcmp(protocol)) {
      if (isIcmpEcho(protocol, p.icmpType)) {
        kind = KIND_ICMP_ECHO;
        srcPort = dstPort = p.icmpId;
      } else {
        // Other ICMP: keyed by type/code, request/response pairs under the request's type.
        kind = KIND_ICMP_OTHER;
        const counterpart = icmpCounterpart(protocol, p.icmpType);
        srcPort = dstPort = counterpart === undefined
          ? (p.icmpType << 8) | p.icmpCode
          : Math.min(p.icmpType, counterpart) << 8;
      }
    }
    const srcIsLow = compareEndpoints(this.srcWords, srcPort, this.dstWords, dstPort) <= 0;
    const key = this.key;
    key[0] = protocol | (p.ipVersion << 8) | (kind << 16);
    const low = srcIsLow ? this.srcWords : this.dstWords;
    const high = srcIsLow ? this.dstWords : this.srcWords;
    key[1] = low[0]; key[2] = low[1]; key[3] = low[2]; key[4] = low[3];
    key[5] = high[0]; key[6] = high[1]; key[7] = high[2]; key[8] = high[3];
    key[9] = srcIsLow ? ((srcPort << 16) | dstPort) >>> 0 : ((dstPort << 16) | srcPort) >>> 0;
    const hash = hashKey(key);

    let f = this.find(hash);
    if (f >= 0) {
      const flags = p.tcpFlags;
      if (now - this.lastUs[f] >= this.classTimeoutUs[this.timeoutClass[f]]) {
        this.finish(f, this.endReasonOnExpiry(f));
        f = -1;
      } else if (this.closing[f] !== CLOSE_NONE && protocol === PROTO_TCP && (flags & (SYN | ACK)) === SYN) {
        // a new connection reusing the 4-tuple of a closed one
        this.finish(f, this.closing[f] === CLOSE_RST ? 'tcp_reset' : 'tcp_close');
        f = -1;
      } else if (now - this.periodStartUs[f] >= this.activeTimeoutUs) {
        this.emit(f, 'interim', 'active_timeout');
        this.startPeriod(f, now);
      }
    }
    if (f < 0) f = this.create(hash, srcIsLow, p);
    this.account(f, p, srcIsLow === (this.initiatorIsLow[f] === 1));
  }

  /**
   * Ends flows idle past their timeout (and closed TCP flows past the linger) as of `nowUs`.
   * Runs from the packet path every second of packet time, and from a wall-clock tick
   * during live capture when packets stop.
   */
  advanceTime(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs;
    this.nextSweepUs = nowUs + SWEEP_INTERVAL_US;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const timeout = this.classTimeoutUs[c];
      let f = this.classHead[c];
      while (f >= 0 && nowUs - this.lastUs[f] >= timeout) {
        this.finish(f, this.endReasonOnExpiry(f));
        f = this.classHead[c];
      }
    }
  }

  /** Emits every flow as a final record (closed TCP flows keep their close reason) and empties the table. */
  flushAll(reason: EndReason = 'shutdown'): void {
    for (let c = 0; c < CLASS_COUNT; c++) {
      let f = this.classHead[c];
      while (f >= 0) {
        this.finish(f, this.closing[f] !== CLOSE_NONE ? this.endReasonOnExpiry(f) : reason);
        f = this.classHead[c];
      }
    }
  }

  // ---- flow lifecycle ----

  private create(hash: number, srcIsLow: boolean, p: DecodedPacket): number {
    if (this.freeCount === 0) this.evictOldest();
    const f = this.freeList[--this.freeCount];
    const base = f * KEY_WORDS;
    for (let i = 0; i < KEY_WORDS; i++) this.keys[base + i] = this.key[i];
    this.hashes[f] = hash;
    this.insertSlot(f, hash);

    const protocol = p.protocol;
    const swap = initiatorIsReceiver(p);
    const initiatorIsLow = srcIsLow !== swap;
    this.initiatorIsLow[f] = initiatorIsLow ? 1 : 0;
    this.protocolOf[f] = protocol;
    this.flowStartUs[f] = p.tsUs;
    this.lastUs[f] = p.tsUs;
    this.startPeriod(f, p.tsUs);
    this.cumFlagsSrc[f] = 0;
    this.cumFlagsDst[f] = 0;
    this.sent[f] = 0;
    this.closing[f] = CLOSE_NONE;
    this.seq[f] = 0;
    this.tcp.reset(f);
    this.timeoutClass[f] = protocol === PROTO_TCP ? CLASS_TCP_UNESTABLISHED
      : protocol === PROTO_UDP ? CLASS_UDP
      : isIcmp(protocol) ? CLASS_ICMP
      : CLASS_OTHER;
    this.listAppend(f);
    this.meta[f] = this.describe(p, swap);
    this.stats_.flowsCreated++;
    return f;
  }

  private describe(p: DecodedPacket, swap: boolean): FlowMeta {
    const v = p.ipVersion;
    const len = v === 4 ? 4 : 16;
    // initiator = the packet's sender unless the heuristics swapped it
    const srcBytes = (swap ? p.dstAddr : p.srcAddr).slice(0, len);
    const dstBytes = (swap ? p.srcAddr : p.dstAddr).slice(0, len);
    const protocol = p.protocol;
    let srcPort = swap ? p.dstPort : p.srcPort;
    let dstPort = swap ? p.srcPort : p.dstPort;
    let icmpType: number | null = null;
    let icmpCode: number | null = null;
    let cidSrcPort = srcPort;
    let cidDstPort = dstPort;
    if (isIcmp(protocol)) {
      // the initiator's message type: a reply seen first stands for its request
      icmpType = swap ? icmpCounterpart(protocol, p.icmpType) ?? p.icmpType : p.icmpType;
      icmpCode = p.icmpCode;
      srcPort = isIcmpEcho(protocol, p.icmpType) ? p.icmpId : 0;
      dstPort = 0;
      cidSrcPort = icmpType;
      cidDstPort = icmpCode;
    } else if (protocol !== PROTO_TCP && protocol !== PROTO_UDP && protocol !== PROTO_SCTP) {
      srcPort = dstPort = cidSrcPort = cidDstPort = 0;
    }
    const srcIp = formatIp(srcBytes, v);
    const dstIp = formatIp(dstBytes, v);
    const a = this.annotator;
    const src = a.endpoint(srcIp, srcBytes, v);
    const dst = a.endpoint(dstIp, dstBytes, v);
    return {
      flowId: `${this.bootId}-${++this.flowCounter}`,
      interfaceName: this.interfaceName,
      direction: a.direction(srcBytes, dstBytes, v),
      ipVersion: v,
      protocol: protocolName(protocol),
      protocolNumber: protocol,
      srcIp,
      srcPort,
      dstIp,
      dstPort,
      srcName: src.name,
      srcType: src.type,
      dstName: dst.name,
      dstType: dst.type,
      dstDomain: a.domain(dstIp, p.tsUs),
      icmpType,
      icmpCode,
      communityId: communityIdV1(protocol, srcBytes, dstBytes, cidSrcPort, cidDstPort),
    };
  }

  private startPeriod(f: number, tsUs: number): void {
    this.periodStartUs[f] = tsUs;
    this.packetsTx[f] = this.packetsRx[f] = 0;
    this.bytesTx[f] = this.bytesRx[f] = 0;
    this.flagsSrc[f] = this.flagsDst[f] = 0;
  }

  private account(f: number, p: DecodedPacket, fromSrc: boolean): void {
    const ts = p.tsUs;
    if (ts > this.lastUs[f]) this.lastUs[f] = ts;
    if (ts < this.periodStartUs[f]) this.periodStartUs[f] = ts;
    if (ts < this.flowStartUs[f]) this.flowStartUs[f] = ts;
    const flags = p.tcpFlags;
    if (fromSrc) {
      this.packetsTx[f]++;
      this.bytesTx[f] += p.ipBytes;
      this.sent[f] |= SENT_SRC;
    } else {
      this.packetsRx[f]++;
      this.bytesRx[f] += p.ipBytes;
      this.sent[f] |= SENT_DST;
    }
    if (this.protocolOf[f] === PROTO_TCP) {
      if (fromSrc) {
        this.flagsSrc[f] |= flags;
        this.cumFlagsSrc[f] |= flags;
      } else {
        this.flagsDst[f] |= flags;
        this.cumFlagsDst[f] |= flags;
      }
      this.tcp.update(f, fromSrc, flags, p.payloadLength);
      this.updateTcpLifetime(f, flags);
    }
    this.listTouch(f);
  }

  private updateTcpLifetime(f: number, flags: number): void {
    if (this.closing[f] !== CLOSE_NONE) return;
    if (flags & RST) {
      this.closing[f] = CLOSE_RST;
    } else if ((this.cumFlagsSrc[f] & FIN) && (this.cumFlagsDst[f] & FIN)) {
      this.closing[f] = CLOSE_FIN;
    } else {
      if (this.timeoutClass[f] === CLASS_TCP_UNESTABLISHED && this.sent[f] === (SENT_SRC | SENT_DST)) {
        this.listRemove(f);
        this.timeoutClass[f] = CLASS_TCP_ESTABLISHED;
        this.listAppend(f);
      }
      return;
    }
    this.listRemove(f);
    this.timeoutClass[f] = CLASS_TCP_CLOSING;
    this.listAppend(f);
  }

  private endReasonOnExpiry(f: number): EndReason {
    const c = this.closing[f];
    return c === CLOSE_RST ? 'tcp_reset' : c === CLOSE_FIN ? 'tcp_close' : 'idle_timeout';
  }

  private evictOldest(): void {
    let oldest = -1;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const h = this.classHead[c];
      if (h >= 0 && (oldest < 0 || this.lastUs[h] < this.lastUs[oldest])) oldest = h;
    }
    this.stats_.evictions++;
    this.finish(oldest, 'evicted');
  }

  /** Emits the final record and frees the flow. */
  private finish(f: number, reason: EndReason): void {
    this.emit(f, 'final', reason);
    this.listRemove(f);
    this.removeSlot(f);
    this.meta[f] = undefined;
    this.freeList[this.freeCount++] = f;
  }

  private emit(f: number, kind: 'interim' | 'final', reason: EndReason): void {
    const m = this.meta[f] as FlowMeta;
    if (m.dstDomain === '') m.dstDomain = this.annotator.domain(m.dstIp, this.lastUs[f]);
    const isTcp = this.protocolOf[f] === PROTO_TCP;
    const record: FlowRecord = {
      flow_id: m.flowId,
      seq: this.seq[f]++,
      record_kind: kind,
      end_reason: reason,
      node: this.node,
      interface: m.interfaceName,
      flow_start_us: this.flowStartUs[f],
      start_us: this.periodStartUs[f],
      end_us: this.lastUs[f],
      direction: m.direction,
      ip_version: m.ipVersion,
      protocol: m.protocol,
      protocol_number: m.protocolNumber,
      src_ip: m.srcIp,
      src_port: m.srcPort,
      dst_ip: m.dstIp,
      dst_port: m.dstPort,
      src_name: m.srcName,
      src_type: m.srcType,
      dst_name: m.dstName,
      dst_type: m.dstType,
      dst_domain: m.dstDomain,
      icmp_type: m.icmpType,
      icmp_code: m.icmpCode,
      packets_tx: this.packetsTx[f],
      packets_rx: this.packetsRx[f],
      bytes_tx: this.bytesTx[f],
      bytes_rx: this.bytesRx[f],
      tcp_flags_src: this.flagsSrc[f],
      tcp_flags_dst: this.flagsDst[f],
      conn_state: isTcp
        ? this.tcp.connState(f)
        : connStateWithoutTcp((this.sent[f] & SENT_SRC) !== 0, (this.sent[f] & SENT_DST) !== 0),
      community_id: m.communityId,
    };
    this.stats_.recordsEmitted++;
    this.sink.write(record);
  }

  // ---- hash table ----

  private find(hash: number): number {
    const key = this.key;
    let i = hash & this.mask;
    while (true) {
      const f = this.slots[i];
      if (f < 0) return -1;
      if (this.hashes[f] === hash) {
        const base = f * KEY_WORDS;
        let same = true;
        for (let w = 0; w < KEY_WORDS; w++) {
          if (this.keys[base + w] !== key[w]) { same = false; break; }
        }
        if (same) return f;
      }
      i = (i + 1) & this.mask;
    }
  }

  private insertSlot(f: number, hash: number): void {
    let i = hash & this.mask;
    while (this.slots[i] >= 0) i = (i + 1) & this.mask;
    this.slots[i] = f;
    this.slotOf[f] = i;
  }

  /** Backward-shift deletion: keeps probe chains intact without tombstones. */
  private removeSlot(f: number): void {
    const mask = this.mask;
    let hole = this.slotOf[f];
    let j = hole;
    while (true) {
      j = (j + 1) & mask;
      const g = this.slots[j];
      if (g < 0) break;
      const ideal = this.hashes[g] & mask;
      if (((j - ideal) & mask) >= ((j - hole) & mask)) {
        this.slots[hole] = g;
        this.slotOf[g] = hole;
        hole = j;
      }
    }
    this.slots[hole] = -1;
  }

  // ---- LRU lists per timeout class ----

  private listAppend(f: number): void {
    const c = this.timeoutClass[f];
    const tail = this.classTail[c];
    this.lruPrev[f] = tail;
    this.lruNext[f] = -1;
    if (tail >= 0) this.lruNext[tail] = f;
    else this.classHead[c] = f;
    this.classTail[c] = f;
  }

  private listRemove(f: number): void {
    const c = this.timeoutClass[f];
    const prev = this.lruPrev[f];
    const next = this.lruNext[f];
    if (prev >= 0) this.lruNext[prev] = next;
    else this.classHead[c] = next;
    if (next >= 0) this.lruPrev[next] = prev;
    else this.classTail[c] = prev;
  }

  private listTouch(f: number): void {
    if (this.classTail[this.timeoutClass[f]] === f) return;
    this.listRemove(f);
    this.listAppend(f);
  }
}

/** Address bytes as big-endian words (IPv4: one word, the rest zero). */
function readWords(a: Uint8Array, v6: boolean, out: Uint32Array): void {
  out[0] = ((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0;
  if (v6) {
    out[1] = ((a[4] << 24) | (a[5] << 16) | (a[6] << 8) | a[7]) >>> 0;
    out[2] = ((a[8] << 24) | (a[9] << 16) | (a[10] << 8) | a[11]) >>> 0;
    out[3] = ((a[12] << 24) | (a[13] << 16) | (a[14] << 8) | a[15]) >>> 0;
  } else {
    out[1] = out[2] = out[3] = 0;
  }
}

function compareEndpoints(a: Uint32Array, aPort: number, b: Uint32Array, bPort: number): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return aPort - bPort;
}

/** murmur3-style mixing of the key words. */
function hashKey(key: Uint32Array): number {
  let h = 0x9747b28c;
  for (let i = 0; i < KEY_WORDS; i++) {
    let k = Math.imul(key[i], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * True when the first packet of a new flow was sent by the responder: a TCP SYN-ACK, an
 * ICMP reply, or (no SYN) a packet from a service port to a non-service port.
 */
function initiatorIsReceiver(p: DecodedPacket): boolean {
  const protocol = p.protocol;
  if (protocol === PROTO_TCP) {
    const synAck = p.tcpFlags & (SYN | ACK);
    if (synAck === SYN) return false;
    if (synAck === (SYN | ACK)) return true;
  } else if (isIcmp(protocol)) {
    return isIcmpReply(protocol, p.icmpType);
  } else if (protocol !== PROTO_UDP && protocol !== PROTO_SCTP) {
    return false;
  }
  return isServicePort(p.srcPort) && !isServicePort(p.dstPort);
}
