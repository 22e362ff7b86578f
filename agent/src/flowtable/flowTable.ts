/**
 * The flow table: aggregates decoded packets into bidirectional flows and emits FlowRecords.
 *
 * Layout (all preallocated, nothing allocated per packet):
 *  - flows live in a fixed pool of `maxFlows` slots; what a packet reads and writes of its
 *    flow (key, flags, TCP state, times and counters) is one 128-byte record of one buffer
 *    (two cache lines), the rest (list links, names, latency) in typed arrays indexed by
 *    pool index;
 *  - an open-addressing hash table (linear probing, load <= 0.5, backward-shift deletion)
 *    maps the normalised key (10 uint32 words) to a pool index; each slot keeps the key's
 *    hash beside the index, so probing past other flows does not read their records;
 *  - free pool slots are chained through their LRU `next` link;
 *  - every flow sits in one doubly linked LRU list per timeout class (TCP unestablished /
 *    established / closing, UDP, ICMP, other). A packet moves its flow to the tail at most
 *    once per granularity (<= 1 s); the sweep re-queues heads that saw packets since, so idle
 *    expiry looks only at list heads and eviction takes the (approximately) least recently
 *    active flow;
 *  - a second list orders flows by the start of their current record period, for interim
 *    records of quiet long-lived flows.
 *
 * A flow holds no per-flow objects: what the annotator decides at creation (direction,
 * endpoint types, the interface, the WireGuard routing peer) is stored as small numbers,
 * names, the peer and the domain as indexes
 * into a reference-counted table of shared strings, and everything derived from the key
 * (addresses as text, ports, flow id, Community ID) is rebuilt from the key words when a
 * record is emitted, so a flow costs a fixed ~215 bytes of typed arrays and leaves no
 * long-lived garbage.
 *
 * Latency is measured on the way, in its own small typed array (touched only by handshake
 * packets and DNS messages): a TCP flow keeps the times of the first SYN, SYN/ACK and the
 * ACK completing the handshake; a DNS flow (UDP, port 53) the time and id of the query it
 * waits for and the first response time of the period. Each measurement goes out in one
 * record only.
 *
 * `snapshotOpen` reads the flows still open (the current period of each, counters so far)
 * for the query API's include_open, without changing anything.
 *
 * Time is packet time (the wall clock drives the sweep during live capture when packets
 * stop). A packet that reaches an expired flow (idle timeout or TCP linger passed) ends that
 * flow first and starts a new one, and a packet arriving after the active timeout closes
 * the current period as an interim record first, so flow boundaries do not depend on how
 * often the sweep (`advanceTime`) runs.
 *
 * Several capture points (live capture on several interfaces): the capture point is part of
 * the key, so each interface has its own flows and counters. A connection the node forwards
 * between two captured interfaces is then two flows (the same key on two points, or, behind
 * a NAT, the original tuple on one and the translated tuple on the other, as the annotator's
 * translation says). When either emits its first record they are paired: the leg whose
 * tuple is the connection's original one (NAT), else the one whose first packet came first,
 * is `ingress`, the other `egress` (record field `transit`), so aggregates can count the
 * connection once. Both legs are normally in the table together (the same packets cross
 * both interfaces), so the first record of either finds the other. `snapshotOpen` walks
 * every capture point's flows and gives an open leg the transit its first record will have.
 */
import type { DecodedPacket } from '../decode/packet';
import type { FlowRecord, FlowSink } from '../model/flow';
import {
  DIRECTIONS, ENDPOINT_TYPES, TCP_FLAGS, type Direction, type EndReason, type EndpointType, type RecordKind,
} from '../model/vocabulary';
import { communityIdV1, icmpCounterpart } from '../flow/communityId';
import { TcpConnStates, connStateWithoutTcp } from '../flow/connState';
import { formatIp } from '../flow/addresses';
import {
  PROTO_SCTP, PROTO_TCP, PROTO_UDP, isIcmp, isIcmpEcho, isIcmpReply, isServicePort, protocolName,
} from '../flow/protocols';
import { randomBytes } from 'node:crypto';
import { SharedStrings } from './sharedStrings';

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

/** A WireGuard peer as records name it. */
export interface RoutingPeer {
  /** Inventory name, '' when the inventory does not name the peer. */
  name: string;
  publicKey: string;
}

/** One side of a translated connection: its tuple, address bytes and Community ID. */
export interface TupleSide {
  /** Community ID of this side's tuple. */
  communityId: string;
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  /** This side's addresses as bytes (4 or 16), to find its flow. */
  srcBytes: Uint8Array;
  dstBytes: Uint8Array;
}

/**
 * A connection as it looks on the other side of this node's address translation, oriented
 * like the tuple it was looked up with (src is the same endpoint on both sides).
 */
export interface TranslatedTuple extends TupleSide {
  /** The looked-up tuple is the connection's original (pre-NAT) one: that leg entered the node. */
  original: boolean;
}

/**
 * Names and direction of a flow's endpoints; consulted once per flow (creation), the domain
 * again at emit while it is still '' and backdated answers came since (asked for the flow's
 * start time both times). Address bytes are only valid during the call.
 */
export interface FlowAnnotator {
  direction(src: Uint8Array, dst: Uint8Array, version: 4 | 6): Direction;
  endpoint(bytes: Uint8Array, version: 4 | 6): { name: string; type: EndpointType };
  /** Domain the address was resolved from by an answer seen by `atUs` and valid then, '' when unknown. */
  domain(ip: string, atUs: number): string;
  /**
   * How many answers `domain` has learned that are dated no later than the latest packet
   * processed before them (answers dated later cannot name a flow that exists already: its
   * start is earlier). While the count is unchanged, `domain` cannot find a name for an
   * existing flow that it did not find before, so a flow whose domain was '' is not asked
   * again (without the count, every record of such a flow asks).
   */
  backdatedAnswers?(): number;
  /**
   * The WireGuard peer whose allowed IPs route the flow's remote address on capture point
   * `point`; null when the point is not a WireGuard interface or no peer routes it. At creation.
   */
  peer?(point: number, src: Uint8Array, dst: Uint8Array, version: 4 | 6, direction: Direction): RoutingPeer | null;
  /**
   * The flow's tuple on the other side of this node's NAT (ports: the key's, i.e. the ICMP
   * echo identifier for echo flows), or null when the node did not translate it. At emit
   * (and when an open flow is read), with no side effects.
   */
  translation?(protocol: number, srcIp: string, srcPort: number, dstIp: string, dstPort: number): TranslatedTuple | null;
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

const KEY_WORDS = 10;

/*
 * What a packet reads and writes of its flow sits in one 128-byte record (two cache lines) of
 * one buffer, seen through three views: with 200 k flows the state is far larger than the
 * caches, and separate arrays per field cost a cache miss each per packet. First line: the key
 * (compared while probing), the small fields and the TCP and latency state bytes; second
 * line: times and counters.
 */
const RECORD_BYTES = 128;
/** Key words from word 0 of the record (Uint32 view). */
const KEY_STRIDE = RECORD_BYTES / 4;
const SMALL_STRIDE = RECORD_BYTES;
const NUM_STRIDE = RECORD_BYTES / 8;
const F_START = 8; // first packet of the flow
const F_PERIOD = 9; // first packet of the current record period
const F_LAST = 10; // last packet
const F_LISTED = 11; // when the flow was last moved to its LRU list's tail
const F_PACKETS_TX = 12;
const F_PACKETS_RX = 13;
const F_BYTES_TX = 14;
const F_BYTES_RX = 15;
const B_FLAGS_SRC = 40;
const B_FLAGS_DST = 41;
const B_CUM_FLAGS_SRC = 42;
const B_CUM_FLAGS_DST = 43;
const B_SENT = 44;
const B_CLOSING = 45;
const B_CLASS = 46;
const B_PROTOCOL = 47;
const B_INITIATOR_IS_LOW = 48;
/** 1 while the current period has no packets yet (after an interim record from the sweep). */
const B_PERIOD_EMPTY = 49;
/** 1 while the flow is in the period list (ordered by period start). */
const B_IN_PERIOD_LIST = 50;
// fixed at creation: indexes into DIRECTIONS / ENDPOINT_TYPES, the initiator's ICMP type and code
const B_DIRECTION = 51;
const B_ICMP_TYPE = 52;
const B_ICMP_CODE = 53;
const B_SRC_TYPE = 54;
const B_DST_TYPE = 55;
/** TRANSIT_NONE until paired with the flow's other leg on another capture point */
const B_TRANSIT = 56;
/** TcpConnStates' five bytes */
const B_TCP = 57;
/** HANDSHAKE_* bits */
const B_LATENCY_STATE = 62;
const LINK_STRIDE = 6;
const L_PREV = 0;
/** the next flow in the LRU list, or (free slots) the next free slot */
const L_NEXT = 1;
/** index into the table's interface names */
const L_INTERFACE = 2;
const L_SEQ = 3;
const L_PERIOD_PREV = 4;
const L_PERIOD_NEXT = 5;
const STRING_STRIDE = 5;
const S_SRC_NAME = 0;
const S_DST_NAME = 1;
const S_DST_DOMAIN = 2;
const S_PEER_NAME = 3;
const S_PEER_KEY = 4;
const KIND_PORTS = 0;
const KIND_ICMP_ECHO = 1;
const KIND_ICMP_OTHER = 2;
// Latency, LATENCY_STRIDE doubles per flow (-1 = not seen), by protocol:
//  TCP: the first SYN from src, the first SYN/ACK from dst after it, the first ACK from src after that;
//  UDP: the time and DNS id of the query being waited for, and the response time measured in this period.
const LATENCY_STRIDE = 3;
const T_SYN = 0;
const T_SYNACK = 1;
const T_ACK = 2;
const T_DNS_QUERY = 0;
const T_DNS_RTT = 1;
const T_DNS_QUERY_ID = 2;
// B_LATENCY_STATE bits
/** Nothing (more) to measure: the handshake is complete, or its start was not seen. */
const HANDSHAKE_DONE = 1;
/** The complete handshake is measured but not yet in a record. */
const HANDSHAKE_UNREPORTED = 2;
/**
 * A query unanswered this long gives way to a newer one (the stub resolver's default retry
 * timeout, resolv.conf `timeout:5`), so one lost query does not stop a long-lived DNS flow
 * from being timed.
 */
const DNS_QUERY_GIVE_UP_US = 5_000_000;

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

const TRANSIT_NONE = 0;
const TRANSIT_INGRESS = 1;
const TRANSIT_EGRESS = 2;
const TRANSIT_VALUES = [null, 'ingress', 'egress'] as const;

/** Capture points per table: the key keeps the point in one byte. */
export const MAX_CAPTURE_POINTS = 256;

const SENT_SRC = 1;
const SENT_DST = 2;

const SWEEP_INTERVAL_US = 1_000_000;

const { FIN, SYN, RST, ACK } = TCP_FLAGS;

/** The flows still open at one instant, as records of their current periods (FlowTable.snapshotOpen). */
export interface OpenFlowsSnapshot {
  /** Flows whose current period has packets and passed the filter, at most the limit asked for. */
  records: FlowRecord[];
  /** Flows that passed the filter beyond the limit (left out). */
  omitted: number;
  /**
   * No record the table emits after this instant can start before this time (epoch µs):
   * the earliest start of any open flow's next record, or the packet clock.
   */
  earliestNextStartUs: number;
}

export class FlowTable {
  private readonly mask: number;
  /** the hash table: per slot the flow (-1: empty) and its key's hash */
  private readonly slots: Int32Array;

  /** the flow records as words: the key (KEY_WORDS from the start of each) */
  private readonly keys: Uint32Array;
  private readonly capacity: number;
  /** first free pool slot (-1 when full); the rest chain through L_NEXT */
  private freeHead: number;
  private freeCount: number;

  private readonly classHead = new Int32Array(CLASS_COUNT).fill(-1);
  private readonly classTail = new Int32Array(CLASS_COUNT).fill(-1);
  /** Flows by period start, oldest first: where the sweep finds periods due for an interim record. */
  private periodHead = -1;
  private periodTail = -1;
  private readonly classTimeoutUs = new Float64Array(CLASS_COUNT);
  private readonly activeTimeoutUs: number;
  /** A packet moves its flow to the LRU tail only when it was listed at least this long ago. */
  private readonly touchGranularityUs: number;

  /** the flow records (RECORD_BYTES each) as doubles: times and counters (F_*) */
  private readonly num: Float64Array;
  /** the flow records as bytes: flags, state, class (B_*) */
  private readonly small: Uint8Array;
  /** per flow, LINK_STRIDE ints: list links, interface, record seq */
  private readonly links: Int32Array;
  private readonly tcp: TcpConnStates;
  /** per flow: the number in its flow id (`bootId-N`) */
  private readonly flowNumbers: Float64Array;
  /** per flow, STRING_STRIDE indexes into `shared`: names and domain chosen at creation */
  private readonly stringRefs: Uint32Array;
  /** per flow, LATENCY_STRIDE times (see T_*) */
  private readonly latency: Float64Array;
  /** per flow: the annotator's backdatedAnswers() when the domain was last looked up */
  private readonly domainAnswers: Float64Array;
  private readonly shared = new SharedStrings();
  /** interface names flows were created under (L_INTERFACE indexes this) */
  private readonly interfaceNames: string[] = [];
  private interfaceIndex = 0;
  /** the interface name index of each capture point */
  private readonly pointInterfaces: number[] = [];
  /** capture point of the packets processed now (part of the key) */
  private capturePoint = 0;

  // per-packet scratch
  private readonly key = new Uint32Array(KEY_WORDS);
  // pairing scratch (emit runs inside process(), whose key must survive)
  private readonly pairKey = new Uint32Array(KEY_WORDS);
  // creation/emit scratch: the initiator's and responder's address bytes per IP version
  private readonly srcBytes = { 4: new Uint8Array(4), 6: new Uint8Array(16) } as const;
  private readonly dstBytes = { 4: new Uint8Array(4), 6: new Uint8Array(16) } as const;

  private nextSweepUs = 0;
  private nowUs = 0;
  private flowCounter = 0;
  private readonly bootId: string;
  private readonly stats_ = { flowsCreated: 0, recordsEmitted: 0, evictions: 0 };

  readonly node: string;
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
    this.slots = new Int32Array(cap * 2).fill(-1);

    const records = new ArrayBuffer(maxFlows * RECORD_BYTES);
    this.keys = new Uint32Array(records);
    this.capacity = maxFlows;

    this.num = new Float64Array(records);
    this.small = new Uint8Array(records);
    this.links = new Int32Array(maxFlows * LINK_STRIDE);
    for (let i = 0; i < maxFlows; i++) this.links[i * LINK_STRIDE + L_NEXT] = i + 1 < maxFlows ? i + 1 : -1;
    this.freeHead = 0;
    this.freeCount = maxFlows;
    this.tcp = new TcpConnStates(this.small, RECORD_BYTES, B_TCP);
    this.flowNumbers = new Float64Array(maxFlows);
    this.stringRefs = new Uint32Array(maxFlows * STRING_STRIDE);
    this.latency = new Float64Array(maxFlows * LATENCY_STRIDE);
    this.domainAnswers = new Float64Array(maxFlows);

    const us = (s: number) => s * 1e6;
    this.classTimeoutUs[CLASS_TCP_UNESTABLISHED] = us(t.tcpUnestablishedS);
    this.classTimeoutUs[CLASS_TCP_ESTABLISHED] = us(t.tcpEstablishedS);
    this.classTimeoutUs[CLASS_TCP_CLOSING] = us(t.tcpLingerS);
    this.classTimeoutUs[CLASS_UDP] = us(t.udpS);
    this.classTimeoutUs[CLASS_ICMP] = us(t.icmpS);
    this.classTimeoutUs[CLASS_OTHER] = us(t.otherS);
    this.activeTimeoutUs = us(t.activeTimeoutS);
    this.touchGranularityUs = Math.min(SWEEP_INTERVAL_US, Math.min(...this.classTimeoutUs) / 4);
  }

  /** Interface name stamped on flows created from now on at the current capture point (imports switch it per file). */
  get interfaceName(): string {
    return this.interfaceNames[this.interfaceIndex];
  }

  set interfaceName(name: string) {
    this.interfaceIndex = this.interfaceNameIndex(name);
    this.pointInterfaces[this.capturePoint] = this.interfaceIndex;
  }

  private interfaceNameIndex(name: string): number {
    const known = this.interfaceNames.indexOf(name);
    return known >= 0 ? known : this.interfaceNames.push(name) - 1;
  }

  /**
   * Adds a capture point (live capture on one more interface) and returns its number; its
   * flows carry `interfaceName`. Point 0 is the table's own (options.interfaceName).
   */
  addCapturePoint(interfaceName: string): number {
    if (this.pointInterfaces.length >= MAX_CAPTURE_POINTS) throw new Error(`at most ${MAX_CAPTURE_POINTS} capture points`);
    return this.pointInterfaces.push(this.interfaceNameIndex(interfaceName)) - 1;
  }

  /** Capture point of the packets processed from now on (the pipeline sets it per capture). */
  selectCapturePoint(point: number): void {
    this.capturePoint = point;
    this.interfaceIndex = this.pointInterfaces[point];
  }

  get maxFlows(): number {
    return this.capacity;
  }

  /** The latest packet time processed (or time advanced to), epoch µs. */
  get latestUs(): number {
    return this.nowUs;
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
    const key = this.key;
    key[0] = (protocol | (p.ipVersion << 8) | (kind << 16) | (this.capturePoint << 24)) >>> 0;
    const srcIsLow = writeKeyEndpoints(key, p.srcAddr, srcPort, p.dstAddr, dstPort, p.ipVersion === 6);
    const hash = hashKey(key, 0);

    let f = this.find(hash, key);
    if (f >= 0) {
      const flags = p.tcpFlags;
      if (now - this.num[f * NUM_STRIDE + F_LAST] >= this.classTimeoutUs[this.small[f * SMALL_STRIDE + B_CLASS]]) {
        this.finish(f, this.endReasonOnExpiry(f));
        f = -1;
      } else if (this.small[f * SMALL_STRIDE + B_CLOSING] !== CLOSE_NONE && protocol === PROTO_TCP && (flags & (SYN | ACK)) === SYN) {
        // a new connection reusing the 4-tuple of a closed one
        this.finish(f, this.small[f * SMALL_STRIDE + B_CLOSING] === CLOSE_RST ? 'tcp_reset' : 'tcp_close');
        f = -1;
      } else if (this.small[f * SMALL_STRIDE + B_PERIOD_EMPTY] === 0 && now - this.num[f * NUM_STRIDE + F_PERIOD] >= this.activeTimeoutUs) {
        this.emit(f, 'interim', 'active_timeout');
        this.startPeriod(f, now);
      }
    }
    if (f < 0) f = this.create(hash, srcIsLow, p);
    this.account(f, p, srcIsLow === (this.small[f * SMALL_STRIDE + B_INITIATOR_IS_LOW] === 1));
  }

  /**
   * Ends flows idle past their timeout (and closed TCP flows past the linger) as of `nowUs`.
   * Runs from the packet path every second of packet time, and from a wall-clock tick
   * during live capture when packets stop.
   */
  advanceTime(nowUs: number): void {
    if (nowUs > this.nowUs) this.nowUs = nowUs;
    this.nextSweepUs = nowUs + SWEEP_INTERVAL_US;
    const num = this.num;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const timeout = this.classTimeoutUs[c];
      let f = this.classHead[c];
      // Lists are ordered by when a flow was last moved to the tail (F_LISTED <= F_LAST):
      // a head that saw packets since is re-queued with its real time, not expired.
      while (f >= 0 && nowUs - num[f * NUM_STRIDE + F_LISTED] >= timeout) {
        if (nowUs - num[f * NUM_STRIDE + F_LAST] >= timeout) this.finish(f, this.endReasonOnExpiry(f));
        else this.listMoveToTail(f);
        f = this.classHead[c];
      }
    }
    this.emitDuePeriods(nowUs);
  }

  /**
   * Interim records for periods older than the active timeout, so a connection that went
   * quiet still shows its traffic in near real time. Skipped when the flow will end by idle
   * timeout within the next active period anyway (its final record carries the period then),
   * so short flows do not turn into an interim plus an empty final record.
   */
  private emitDuePeriods(nowUs: number): void {
    const num = this.num;
    const active = this.activeTimeoutUs;
    let f = this.periodHead;
    while (f >= 0 && nowUs - num[f * NUM_STRIDE + F_PERIOD] >= active) {
      this.periodListRemove(f);
      const idleDeadline = num[f * NUM_STRIDE + F_LAST] + this.classTimeoutUs[this.small[f * SMALL_STRIDE + B_CLASS]];
      if (idleDeadline - nowUs > active && this.small[f * SMALL_STRIDE + B_CLOSING] === CLOSE_NONE) {
        this.emit(f, 'interim', 'active_timeout');
        this.clearPeriod(f);
        this.small[f * SMALL_STRIDE + B_PERIOD_EMPTY] = 1;
      }
      f = this.periodHead;
    }
  }

  /**
   * Emits every flow as a final record and empties the table. Flows already past their
   * idle timeout (or TCP linger) as of the last packet end with that reason; the others
   * with `reason` (default shutdown).
   */
  flushAll(reason: EndReason = 'shutdown'): void {
    const now = this.nowUs;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const timeout = this.classTimeoutUs[c];
      let f = this.classHead[c];
      while (f >= 0) {
        const expired = now - this.num[f * NUM_STRIDE + F_LAST] >= timeout;
        const closed = this.small[f * SMALL_STRIDE + B_CLOSING] !== CLOSE_NONE;
        this.finish(f, expired || closed ? this.endReasonOnExpiry(f) : reason);
        f = this.classHead[c];
      }
    }
  }

  // ---- flow lifecycle ----

  private create(hash: number, srcIsLow: boolean, p: DecodedPacket): number {
    if (this.freeCount === 0) this.evictOldest();
    const f = this.freeHead;
    this.freeHead = this.links[f * LINK_STRIDE + L_NEXT];
    this.freeCount--;
    const base = f * KEY_STRIDE;
    for (let i = 0; i < KEY_WORDS; i++) this.keys[base + i] = this.key[i];
    this.insertSlot(f, hash);

    const protocol = p.protocol;
    const swap = initiatorIsReceiver(p);
    const initiatorIsLow = srcIsLow !== swap;
    this.small[f * SMALL_STRIDE + B_INITIATOR_IS_LOW] = initiatorIsLow ? 1 : 0;
    this.small[f * SMALL_STRIDE + B_PROTOCOL] = protocol;
    this.num[f * NUM_STRIDE + F_START] = p.tsUs;
    this.num[f * NUM_STRIDE + F_LAST] = p.tsUs;
    this.num[f * NUM_STRIDE + F_LISTED] = p.tsUs;
    this.small[f * SMALL_STRIDE + B_IN_PERIOD_LIST] = 0;
    this.startPeriod(f, p.tsUs);
    this.small[f * SMALL_STRIDE + B_CUM_FLAGS_SRC] = 0;
    this.small[f * SMALL_STRIDE + B_CUM_FLAGS_DST] = 0;
    this.small[f * SMALL_STRIDE + B_SENT] = 0;
    this.small[f * SMALL_STRIDE + B_CLOSING] = CLOSE_NONE;
    this.small[f * SMALL_STRIDE + B_TRANSIT] = TRANSIT_NONE;
    this.links[f * LINK_STRIDE + L_SEQ] = 0;
    this.tcp.reset(f);
    this.latency.fill(-1, f * LATENCY_STRIDE, (f + 1) * LATENCY_STRIDE);
    // the handshake is timed only from its first SYN (seen first, from the initiator)
    this.small[f * SMALL_STRIDE + B_LATENCY_STATE] = protocol === PROTO_TCP && (p.tcpFlags & (SYN | ACK)) === SYN ? 0 : HANDSHAKE_DONE;
    this.small[f * SMALL_STRIDE + B_CLASS] = protocol === PROTO_TCP ? CLASS_TCP_UNESTABLISHED
      : protocol === PROTO_UDP ? CLASS_UDP
      : isIcmp(protocol) ? CLASS_ICMP
      : CLASS_OTHER;
    this.listAppend(f);
    this.annotate(f, p, swap);
    this.stats_.flowsCreated++;
    return f;
  }

  /** What the record needs beyond the key, decided once when the flow starts. */
  private annotate(f: number, p: DecodedPacket, swap: boolean): void {
    const v = p.ipVersion;
    const protocol = p.protocol;
    if (isIcmp(protocol)) {
      // the initiator's message type: a reply seen first stands for its request
      this.small[f * SMALL_STRIDE + B_ICMP_TYPE] = swap ? icmpCounterpart(protocol, p.icmpType) ?? p.icmpType : p.icmpType;
      this.small[f * SMALL_STRIDE + B_ICMP_CODE] = p.icmpCode;
    }
    this.links[f * LINK_STRIDE + L_INTERFACE] = this.interfaceIndex;
    this.flowNumbers[f] = ++this.flowCounter;
    const srcBytes = this.initiatorBytes(f, v);
    const dstBytes = this.responderBytes(f, v);
    const a = this.annotator;
    const src = a.endpoint(srcBytes, v);
    const dst = a.endpoint(dstBytes, v);
    const strings = this.shared;
    this.stringRefs[f * STRING_STRIDE + S_SRC_NAME] = strings.acquire(src.name);
    this.stringRefs[f * STRING_STRIDE + S_DST_NAME] = strings.acquire(dst.name);
    this.small[f * SMALL_STRIDE + B_SRC_TYPE] = ENDPOINT_TYPES.indexOf(src.type);
    this.small[f * SMALL_STRIDE + B_DST_TYPE] = ENDPOINT_TYPES.indexOf(dst.type);
    const direction = a.direction(srcBytes, dstBytes, v);
    this.small[f * SMALL_STRIDE + B_DIRECTION] = DIRECTIONS.indexOf(direction);
    const peer = a.peer?.(this.capturePoint, srcBytes, dstBytes, v, direction) ?? null;
    this.stringRefs[f * STRING_STRIDE + S_PEER_NAME] = peer === null ? 0 : strings.acquire(peer.name);
    this.stringRefs[f * STRING_STRIDE + S_PEER_KEY] = peer === null ? 0 : strings.acquire(peer.publicKey);
    this.domainAnswers[f] = this.backdatedAnswers();
    this.stringRefs[f * STRING_STRIDE + S_DST_DOMAIN] = strings.acquire(a.domain(formatIp(dstBytes, v), p.tsUs));
  }

  /** The annotator's answer count, NaN (never equal: always ask) when it does not count. */
  private backdatedAnswers(): number {
    return this.annotator.backdatedAnswers?.() ?? NaN;
  }

  /** The initiator's address bytes (scratch, valid until the next call). */
  private initiatorBytes(f: number, v: 4 | 6): Uint8Array {
    const low = this.small[f * SMALL_STRIDE + B_INITIATOR_IS_LOW] === 1;
    return writeAddress(this.keys, f * KEY_STRIDE + (low ? 1 : 5), this.srcBytes[v]);
  }

  /** The responder's address bytes (scratch, valid until the next call). */
  private responderBytes(f: number, v: 4 | 6): Uint8Array {
    const low = this.small[f * SMALL_STRIDE + B_INITIATOR_IS_LOW] === 1;
    return writeAddress(this.keys, f * KEY_STRIDE + (low ? 5 : 1), this.dstBytes[v]);
  }

  private startPeriod(f: number, tsUs: number): void {
    this.num[f * NUM_STRIDE + F_PERIOD] = tsUs;
    this.small[f * SMALL_STRIDE + B_PERIOD_EMPTY] = 0;
    this.periodListRemove(f);
    this.periodListAppend(f);
    this.clearPeriod(f);
  }

  private account(f: number, p: DecodedPacket, fromSrc: boolean): void {
    const ts = p.tsUs;
    if (ts > this.num[f * NUM_STRIDE + F_LAST]) this.num[f * NUM_STRIDE + F_LAST] = ts;
    if (this.small[f * SMALL_STRIDE + B_PERIOD_EMPTY] === 1) this.startPeriod(f, ts);
    else if (ts < this.num[f * NUM_STRIDE + F_PERIOD]) this.num[f * NUM_STRIDE + F_PERIOD] = ts;
    if (ts < this.num[f * NUM_STRIDE + F_START]) this.num[f * NUM_STRIDE + F_START] = ts;
    const flags = p.tcpFlags;
    if (fromSrc) {
      this.num[f * NUM_STRIDE + F_PACKETS_TX]++;
      this.num[f * NUM_STRIDE + F_BYTES_TX] += p.ipBytes;
      this.small[f * SMALL_STRIDE + B_SENT] |= SENT_SRC;
    } else {
      this.num[f * NUM_STRIDE + F_PACKETS_RX]++;
      this.num[f * NUM_STRIDE + F_BYTES_RX] += p.ipBytes;
      this.small[f * SMALL_STRIDE + B_SENT] |= SENT_DST;
    }
    if (this.small[f * SMALL_STRIDE + B_PROTOCOL] === PROTO_TCP) {
      if (fromSrc) {
        this.small[f * SMALL_STRIDE + B_FLAGS_SRC] |= flags;
        this.small[f * SMALL_STRIDE + B_CUM_FLAGS_SRC] |= flags;
      } else {
        this.small[f * SMALL_STRIDE + B_FLAGS_DST] |= flags;
        this.small[f * SMALL_STRIDE + B_CUM_FLAGS_DST] |= flags;
      }
      this.tcp.update(f, fromSrc, flags, p.payloadLength);
      this.updateTcpLifetime(f, flags);
      if ((this.small[f * SMALL_STRIDE + B_LATENCY_STATE] & HANDSHAKE_DONE) === 0) this.timeHandshake(f, p, fromSrc);
    } else if (p.dnsId >= 0 && this.small[f * SMALL_STRIDE + B_PROTOCOL] === PROTO_UDP) {
      this.timeDns(f, p);
    }
    if (ts - this.num[f * NUM_STRIDE + F_LISTED] >= this.touchGranularityUs) this.listMoveToTail(f);
  }

  private updateTcpLifetime(f: number, flags: number): void {
    if (this.small[f * SMALL_STRIDE + B_CLOSING] !== CLOSE_NONE) return;
    if (flags & RST) {
      this.small[f * SMALL_STRIDE + B_CLOSING] = CLOSE_RST;
    } else if ((this.small[f * SMALL_STRIDE + B_CUM_FLAGS_SRC] & FIN) && (this.small[f * SMALL_STRIDE + B_CUM_FLAGS_DST] & FIN)) {
      this.small[f * SMALL_STRIDE + B_CLOSING] = CLOSE_FIN;
    } else {
      if (this.small[f * SMALL_STRIDE + B_CLASS] === CLASS_TCP_UNESTABLISHED && this.small[f * SMALL_STRIDE + B_SENT] === (SENT_SRC | SENT_DST)) {
        this.listRemove(f);
        this.small[f * SMALL_STRIDE + B_CLASS] = CLASS_TCP_ESTABLISHED;
        this.num[f * NUM_STRIDE + F_LISTED] = this.num[f * NUM_STRIDE + F_LAST];
        this.listAppend(f);
      }
      return;
    }
    this.listRemove(f);
    this.small[f * SMALL_STRIDE + B_CLASS] = CLASS_TCP_CLOSING;
    this.num[f * NUM_STRIDE + F_LISTED] = this.num[f * NUM_STRIDE + F_LAST];
    this.listAppend(f);
  }

  /** Handshake legs: first SYN (src) -> first SYN/ACK (dst) -> first ACK (src) after it. */
  private timeHandshake(f: number, p: DecodedPacket, fromSrc: boolean): void {
    const at = f * LATENCY_STRIDE;
    const latency = this.latency;
    const synAck = p.tcpFlags & (SYN | ACK | RST);
    if (fromSrc) {
      if (synAck === SYN) {
        if (latency[at + T_SYN] < 0) latency[at + T_SYN] = p.tsUs;
      } else if (synAck === ACK && latency[at + T_SYNACK] >= 0) {
        latency[at + T_ACK] = p.tsUs;
        this.small[f * SMALL_STRIDE + B_LATENCY_STATE] = HANDSHAKE_DONE | HANDSHAKE_UNREPORTED;
      }
    } else if (synAck === (SYN | ACK) && latency[at + T_SYN] >= 0 && latency[at + T_SYNACK] < 0) {
      latency[at + T_SYNACK] = p.tsUs;
    }
  }

  /**
   * DNS response time: a query starts the clock unless another query is still awaited (the
   * A and AAAA queries of one lookup: the first one is timed); the response with its id
   * stops it. The first response of a record period is kept for that record.
   */
  private timeDns(f: number, p: DecodedPacket): void {
    const at = f * LATENCY_STRIDE;
    const latency = this.latency;
    if (!p.dnsResponse) {
      if (latency[at + T_DNS_QUERY_ID] < 0 || p.tsUs - latency[at + T_DNS_QUERY] >= DNS_QUERY_GIVE_UP_US) {
        latency[at + T_DNS_QUERY] = p.tsUs;
        latency[at + T_DNS_QUERY_ID] = p.dnsId;
      }
    } else if (latency[at + T_DNS_QUERY_ID] === p.dnsId) {
      if (latency[at + T_DNS_RTT] < 0) latency[at + T_DNS_RTT] = Math.max(0, p.tsUs - latency[at + T_DNS_QUERY]);
      latency[at + T_DNS_QUERY_ID] = -1;
    }
  }

  private endReasonOnExpiry(f: number): EndReason {
    const c = this.small[f * SMALL_STRIDE + B_CLOSING];
    return c === CLOSE_RST ? 'tcp_reset' : c === CLOSE_FIN ? 'tcp_close' : 'idle_timeout';
  }

  private evictOldest(): void {
    let oldest = -1;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const h = this.classHead[c];
      if (h >= 0 && (oldest < 0 || this.num[h * NUM_STRIDE + F_LISTED] < this.num[oldest * NUM_STRIDE + F_LISTED])) oldest = h;
    }
    this.stats_.evictions++;
    this.finish(oldest, 'evicted');
  }

  /** Emits the final record and frees the flow. */
  private finish(f: number, reason: EndReason): void {
    this.emit(f, 'final', reason);
    this.listRemove(f);
    this.periodListRemove(f);
    this.removeSlot(f);
    for (let i = 0; i < STRING_STRIDE; i++) this.shared.release(this.stringRefs[f * STRING_STRIDE + i]);
    this.links[f * LINK_STRIDE + L_NEXT] = this.freeHead;
    this.freeHead = f;
    this.freeCount++;
  }

  private emit(f: number, kind: 'interim' | 'final', reason: EndReason): void {
    const refs = this.stringRefs;
    const answers = this.backdatedAnswers();
    if (refs[f * STRING_STRIDE + S_DST_DOMAIN] === 0 && answers !== this.domainAnswers[f]) {
      // Answers seen before the flow's first packet that were processed only now (packets of
      // several captures interleave): asked for the flow's start, never for a later time.
      this.domainAnswers[f] = answers;
      const v = ((this.keys[f * KEY_STRIDE] >>> 8) & 0xff) as 4 | 6;
      const dstIp = formatIp(this.responderBytes(f, v), v);
      refs[f * STRING_STRIDE + S_DST_DOMAIN] = this.shared.acquire(this.annotator.domain(dstIp, this.num[f * NUM_STRIDE + F_START]));
    }
    const record = this.record(f, kind, reason);
    this.links[f * LINK_STRIDE + L_SEQ]++;
    // each measurement goes out once
    if (record.tcp_synack_us !== null) this.small[f * SMALL_STRIDE + B_LATENCY_STATE] &= ~HANDSHAKE_UNREPORTED;
    if (record.dns_rtt_us !== null) this.latency[f * LATENCY_STRIDE + T_DNS_RTT] = -1;
    this.stats_.recordsEmitted++;
    this.sink.write(record);
  }

  /**
   * The flows still open, each as the record its current period would give now (kind and
   * end reason `open`, the seq its next record will carry), for flows whose current period
   * has packets and for which `keep(start_us, end_us)` holds; at most `limit`, the most
   * recently active of each timeout class first. Reads only: the table is unchanged.
   */
  snapshotOpen(limit: number, keep: (startUs: number, endUs: number) => boolean): OpenFlowsSnapshot {
    const records: FlowRecord[] = [];
    let omitted = 0;
    let earliestNextStartUs = this.nowUs;
    const num = this.num;
    for (let c = 0; c < CLASS_COUNT; c++) {
      for (let f = this.classTail[c]; f >= 0; f = this.links[f * LINK_STRIDE + L_PREV]) {
        const empty = this.small[f * SMALL_STRIDE + B_PERIOD_EMPTY] === 1;
        const startUs = empty ? num[f * NUM_STRIDE + F_LAST] : num[f * NUM_STRIDE + F_PERIOD];
        if (startUs < earliestNextStartUs) earliestNextStartUs = startUs;
        if (empty || !keep(startUs, num[f * NUM_STRIDE + F_LAST])) continue;
        if (records.length < limit) records.push(this.record(f, 'open', 'open'));
        else omitted++;
      }
    }
    return { records, omitted, earliestNextStartUs };
  }

  /** The record of flow f's current period (no side effects). */
  private record(f: number, kind: RecordKind, reason: EndReason): FlowRecord {
    const base = f * KEY_STRIDE;
    const keyHead = this.keys[base];
    const protocol = keyHead & 0xff;
    const v = ((keyHead >>> 8) & 0xff) as 4 | 6;
    const srcBytes = this.initiatorBytes(f, v);
    const dstBytes = this.responderBytes(f, v);
    const srcIp = formatIp(srcBytes, v);
    const dstIp = formatIp(dstBytes, v);
    const initiatorIsLow = this.small[f * SMALL_STRIDE + B_INITIATOR_IS_LOW] === 1;
    const ports = this.keys[base + 9];
    const keySrcPort = initiatorIsLow ? ports >>> 16 : ports & 0xffff;
    const keyDstPort = initiatorIsLow ? ports & 0xffff : ports >>> 16;
    let srcPort = keySrcPort;
    let dstPort = keyDstPort;
    let icmpType: number | null = null;
    let icmpCode: number | null = null;
    let icmpId: number | null = null;
    let cidSrcPort = srcPort;
    let cidDstPort = dstPort;
    if (isIcmp(protocol)) {
      icmpType = this.small[f * SMALL_STRIDE + B_ICMP_TYPE];
      icmpCode = this.small[f * SMALL_STRIDE + B_ICMP_CODE];
      // the echo identifier keys the flow (both port halves hold it); Community ID uses type/code only
      if (((keyHead >>> 16) & 0xff) === KIND_ICMP_ECHO) icmpId = ports & 0xffff;
      srcPort = dstPort = 0;
      cidSrcPort = icmpType;
      cidDstPort = icmpCode;
    } else if (protocol !== PROTO_TCP && protocol !== PROTO_UDP && protocol !== PROTO_SCTP) {
      srcPort = dstPort = cidSrcPort = cidDstPort = 0;
    }
    const strings = this.shared;
    const isTcp = protocol === PROTO_TCP;
    // ICMP other than echo is keyed by type/code, not a conntrack tuple: never translated
    const keyKind = (keyHead >>> 16) & 0xff;
    const nat = keyKind === KIND_ICMP_OTHER ? null : this.annotator.translation?.(protocol, srcIp, keySrcPort, dstIp, keyDstPort) ?? null;
    // an emitted record pairs the legs for good; an open one (a snapshot) only reads
    const transit = this.transitLeg(f, nat, kind !== 'open');
    const natPorts = nat !== null && keyKind === KIND_PORTS;
    const at = f * LATENCY_STRIDE;
    const latency = this.latency;
    const handshake = isTcp && (this.small[f * SMALL_STRIDE + B_LATENCY_STATE] & HANDSHAKE_UNREPORTED) !== 0;
    const dnsRtt = protocol === PROTO_UDP ? latency[at + T_DNS_RTT] : -1;
    return {
      flow_id: `${this.bootId}-${this.flowNumbers[f]}`,
      seq: this.links[f * LINK_STRIDE + L_SEQ],
      record_kind: kind,
      end_reason: reason,
      node: this.node,
      interface: this.interfaceNames[this.links[f * LINK_STRIDE + L_INTERFACE]],
      flow_start_us: this.num[f * NUM_STRIDE + F_START],
      // an empty final period (the flow went quiet after an interim record) sits at the last packet
      start_us: this.small[f * SMALL_STRIDE + B_PERIOD_EMPTY] === 1 ? this.num[f * NUM_STRIDE + F_LAST] : this.num[f * NUM_STRIDE + F_PERIOD],
      end_us: this.num[f * NUM_STRIDE + F_LAST],
      direction: DIRECTIONS[this.small[f * SMALL_STRIDE + B_DIRECTION]],
      ip_version: v,
      protocol: protocolName(protocol),
      protocol_number: protocol,
      src_ip: srcIp,
      src_port: srcPort,
      dst_ip: dstIp,
      dst_port: dstPort,
      src_name: strings.get(this.stringRefs[f * STRING_STRIDE + S_SRC_NAME]),
      src_type: ENDPOINT_TYPES[this.small[f * SMALL_STRIDE + B_SRC_TYPE]],
      dst_name: strings.get(this.stringRefs[f * STRING_STRIDE + S_DST_NAME]),
      dst_type: ENDPOINT_TYPES[this.small[f * SMALL_STRIDE + B_DST_TYPE]],
      dst_domain: strings.get(this.stringRefs[f * STRING_STRIDE + S_DST_DOMAIN]),
      icmp_type: icmpType,
      icmp_code: icmpCode,
      packets_tx: this.num[f * NUM_STRIDE + F_PACKETS_TX],
      packets_rx: this.num[f * NUM_STRIDE + F_PACKETS_RX],
      bytes_tx: this.num[f * NUM_STRIDE + F_BYTES_TX],
      bytes_rx: this.num[f * NUM_STRIDE + F_BYTES_RX],
      tcp_flags_src: this.small[f * SMALL_STRIDE + B_FLAGS_SRC],
      tcp_flags_dst: this.small[f * SMALL_STRIDE + B_FLAGS_DST],
      conn_state: isTcp
        ? this.tcp.connState(f)
        : connStateWithoutTcp((this.small[f * SMALL_STRIDE + B_SENT] & SENT_SRC) !== 0, (this.small[f * SMALL_STRIDE + B_SENT] & SENT_DST) !== 0),
      // deterministic from the key, so every record of the flow carries the same one
      community_id: communityIdV1(protocol, srcBytes, dstBytes, cidSrcPort, cidDstPort),
      icmp_id: icmpId,
      // packet timestamps can step back a little (several capture queues): never a negative leg
      tcp_synack_us: handshake ? Math.max(0, latency[at + T_SYNACK] - latency[at + T_SYN]) : null,
      tcp_ack_us: handshake ? Math.max(0, latency[at + T_ACK] - latency[at + T_SYNACK]) : null,
      dns_rtt_us: dnsRtt >= 0 ? dnsRtt : null,
      peer_name: strings.get(this.stringRefs[f * STRING_STRIDE + S_PEER_NAME]),
      peer_key: strings.get(this.stringRefs[f * STRING_STRIDE + S_PEER_KEY]),
      transit: TRANSIT_VALUES[transit],
      link_id: nat === null ? '' : nat.communityId,
      nat_src_ip: nat === null ? '' : nat.srcIp,
      nat_src_port: natPorts ? nat.srcPort : 0,
      nat_dst_ip: nat === null ? '' : nat.dstIp,
      nat_dst_port: natPorts ? nat.dstPort : 0,
    };
  }

  /**
   * Flow f's transit leg (TRANSIT_*): as paired, else looked for now on the other capture
   * points. With `keep` (a record is emitted) a pairing found is kept for both legs; without
   * (an open flow read for a snapshot) nothing changes, and the emitted record later finds
   * the same pairing (it depends on the legs' first packets and the NAT only).
   */
  private transitLeg(f: number, nat: TranslatedTuple | null, keep: boolean): number {
    const leg = this.small[f * SMALL_STRIDE + B_TRANSIT];
    if (leg !== TRANSIT_NONE || this.pointInterfaces.length < 2) return leg;
    const twin = this.twinLeg(f, nat);
    if (twin < 0) return TRANSIT_NONE;
    const fIsIngress = (twin & 1) === 1;
    if (keep) {
      this.small[f * SMALL_STRIDE + B_TRANSIT] = fIsIngress ? TRANSIT_INGRESS : TRANSIT_EGRESS;
      this.small[(twin >>> 1) * SMALL_STRIDE + B_TRANSIT] = fIsIngress ? TRANSIT_EGRESS : TRANSIT_INGRESS;
    }
    return fIsIngress ? TRANSIT_INGRESS : TRANSIT_EGRESS;
  }

  /**
   * Looks for the flow's other leg on the other capture points (the same tuple, or the
   * translated one): -1 when there is none (or it is already paired, with a third
   * interface), else (g << 1) | 1 when f is the ingress leg, g << 1 when it is the egress
   * one. Ingress is the original tuple's leg behind a NAT, else the leg whose first packet
   * came first (then the lower capture point).
   */
  private twinLeg(f: number, nat: TranslatedTuple | null): number {
    const keys = this.keys;
    const base = f * KEY_STRIDE;
    const head = keys[base] & 0xffffff;
    const point = keys[base] >>> 24;
    const twinKey = this.pairKey;
    for (let q = 0; q < this.pointInterfaces.length; q++) {
      if (q === point) continue;
      for (let w = 0; w < KEY_WORDS; w++) twinKey[w] = keys[base + w];
      twinKey[0] = (head | (q << 24)) >>> 0;
      let g = this.find(hashKey(twinKey, 0), twinKey);
      let fIsIngress = false;
      if (g >= 0) {
        const fStart = this.num[f * NUM_STRIDE + F_START];
        const gStart = this.num[g * NUM_STRIDE + F_START];
        fIsIngress = fStart < gStart || (fStart === gStart && point < q);
      } else if (nat !== null) {
        // (an echo's "ports" are its identifier on both sides, as translated)
        writeKeyEndpoints(twinKey, nat.srcBytes, nat.srcPort, nat.dstBytes, nat.dstPort, ((head >>> 8) & 0xff) === 6);
        g = this.find(hashKey(twinKey, 0), twinKey);
        fIsIngress = nat.original;
      }
      if (g < 0 || this.small[g * SMALL_STRIDE + B_TRANSIT] !== TRANSIT_NONE) continue;
      return (g << 1) | (fIsIngress ? 1 : 0);
    }
    return -1;
  }

  private clearPeriod(f: number): void {
    this.num[f * NUM_STRIDE + F_PACKETS_TX] = this.num[f * NUM_STRIDE + F_PACKETS_RX] = 0;
    this.num[f * NUM_STRIDE + F_BYTES_TX] = this.num[f * NUM_STRIDE + F_BYTES_RX] = 0;
    this.small[f * SMALL_STRIDE + B_FLAGS_SRC] = this.small[f * SMALL_STRIDE + B_FLAGS_DST] = 0;
  }

  private periodListAppend(f: number): void {
    const links = this.links;
    const tail = this.periodTail;
    links[f * LINK_STRIDE + L_PERIOD_PREV] = tail;
    links[f * LINK_STRIDE + L_PERIOD_NEXT] = -1;
    if (tail >= 0) links[tail * LINK_STRIDE + L_PERIOD_NEXT] = f;
    else this.periodHead = f;
    this.periodTail = f;
    this.small[f * SMALL_STRIDE + B_IN_PERIOD_LIST] = 1;
  }

  private periodListRemove(f: number): void {
    if (this.small[f * SMALL_STRIDE + B_IN_PERIOD_LIST] === 0) return;
    const links = this.links;
    const prev = links[f * LINK_STRIDE + L_PERIOD_PREV];
    const next = links[f * LINK_STRIDE + L_PERIOD_NEXT];
    if (prev >= 0) links[prev * LINK_STRIDE + L_PERIOD_NEXT] = next;
    else this.periodHead = next;
    if (next >= 0) links[next * LINK_STRIDE + L_PERIOD_PREV] = prev;
    else this.periodTail = prev;
    this.small[f * SMALL_STRIDE + B_IN_PERIOD_LIST] = 0;
  }

  // ---- hash table ----

  private find(hash: number, key: Uint32Array): number {
    const slots = this.slots;
    let i = hash & this.mask;
    while (true) {
      const f = slots[i * 2];
      if (f < 0) return -1;
      // the stored hash first: a probe past another flow does not read that flow's record
      if (slots[i * 2 + 1] === hash && this.keyEquals(f, key)) return f;
      i = (i + 1) & this.mask;
    }
  }

  private keyEquals(f: number, key: Uint32Array): boolean {
    const base = f * KEY_STRIDE;
    const keys = this.keys;
    // ports and the first address words first: they differ between most flows
    if (keys[base + 9] !== key[9] || keys[base + 1] !== key[1] || keys[base + 5] !== key[5] || keys[base] !== key[0]) return false;
    // the same word 0 is the same IP version, and an IPv4 key's other address words are all zero
    if (((key[0] >>> 8) & 0xff) === 4) return true;
    for (let w = 2; w < 9; w++) {
      if (w !== 5 && keys[base + w] !== key[w]) return false;
    }
    return true;
  }

  private insertSlot(f: number, hash: number): void {
    const slots = this.slots;
    let i = hash & this.mask;
    while (slots[i * 2] >= 0) i = (i + 1) & this.mask;
    slots[i * 2] = f;
    slots[i * 2 + 1] = hash;
  }

  /** Backward-shift deletion: keeps probe chains intact without tombstones. */
  private removeSlot(f: number): void {
    const mask = this.mask;
    const slots = this.slots;
    let hole = hashKey(this.keys, f * KEY_STRIDE) & mask;
    while (slots[hole * 2] !== f) hole = (hole + 1) & mask;
    let j = hole;
    while (true) {
      j = (j + 1) & mask;
      const g = slots[j * 2];
      if (g < 0) break;
      const ideal = slots[j * 2 + 1] & mask;
      if (((j - ideal) & mask) >= ((j - hole) & mask)) {
        slots[hole * 2] = g;
        slots[hole * 2 + 1] = slots[j * 2 + 1];
        hole = j;
      }
    }
    slots[hole * 2] = -1;
  }

  // ---- LRU lists per timeout class ----

  private listAppend(f: number): void {
    const c = this.small[f * SMALL_STRIDE + B_CLASS];
    const tail = this.classTail[c];
    this.links[f * LINK_STRIDE + L_PREV] = tail;
    this.links[f * LINK_STRIDE + L_NEXT] = -1;
    if (tail >= 0) this.links[tail * LINK_STRIDE + L_NEXT] = f;
    else this.classHead[c] = f;
    this.classTail[c] = f;
  }

  private listRemove(f: number): void {
    const c = this.small[f * SMALL_STRIDE + B_CLASS];
    const prev = this.links[f * LINK_STRIDE + L_PREV];
    const next = this.links[f * LINK_STRIDE + L_NEXT];
    if (prev >= 0) this.links[prev * LINK_STRIDE + L_NEXT] = next;
    else this.classHead[c] = next;
    if (next >= 0) this.links[next * LINK_STRIDE + L_PREV] = prev;
    else this.classTail[c] = prev;
  }

  /**
   * Moves a flow to its list's tail, listed under its last packet's time (read here, not
   * passed: a double argument would be boxed on the heap, and this runs for most packets of
   * slow flows).
   */
  private listMoveToTail(f: number): void {
    this.num[f * NUM_STRIDE + F_LISTED] = this.num[f * NUM_STRIDE + F_LAST];
    if (this.classTail[this.small[f * SMALL_STRIDE + B_CLASS]] === f) return;
    this.listRemove(f);
    this.listAppend(f);
  }
}

/** The inverse of addressWord: key words from `at` as address bytes (4 or 16, out's length). */
function writeAddress(keys: Uint32Array, at: number, out: Uint8Array): Uint8Array {
  for (let i = 0; i < out.length; i += 4) {
    const w = keys[at + (i >> 2)];
    out[i] = w >>> 24;
    out[i + 1] = (w >>> 16) & 0xff;
    out[i + 2] = (w >>> 8) & 0xff;
    out[i + 3] = w & 0xff;
  }
  return out;
}

/** Four address bytes at `at` as a big-endian word. */
function addressWord(a: Uint8Array, at: number): number {
  return ((a[at] << 24) | (a[at + 1] << 16) | (a[at + 2] << 8) | a[at + 3]) >>> 0;
}

/**
 * Key words 1-9: the lower endpoint's address (words 1-4), the higher one's (5-8), and both
 * ports (9), lower endpoint first, so both directions of a flow share one key. IPv4 uses one
 * address word (the rest zero). Returns whether the source is the lower endpoint.
 */
function writeKeyEndpoints(key: Uint32Array, src: Uint8Array, srcPort: number, dst: Uint8Array, dstPort: number, v6: boolean): boolean {
  const s0 = addressWord(src, 0);
  const d0 = addressWord(dst, 0);
  let s1 = 0, s2 = 0, s3 = 0, d1 = 0, d2 = 0, d3 = 0;
  if (v6) {
    s1 = addressWord(src, 4); s2 = addressWord(src, 8); s3 = addressWord(src, 12);
    d1 = addressWord(dst, 4); d2 = addressWord(dst, 8); d3 = addressWord(dst, 12);
  }
  const srcIsLow = s0 !== d0 ? s0 < d0 : s1 !== d1 ? s1 < d1 : s2 !== d2 ? s2 < d2 : s3 !== d3 ? s3 < d3 : srcPort <= dstPort;
  if (srcIsLow) {
    key[1] = s0; key[2] = s1; key[3] = s2; key[4] = s3;
    key[5] = d0; key[6] = d1; key[7] = d2; key[8] = d3;
    key[9] = ((srcPort << 16) | dstPort) >>> 0;
  } else {
    key[1] = d0; key[2] = d1; key[3] = d2; key[4] = d3;
    key[5] = s0; key[6] = s1; key[7] = s2; key[8] = s3;
    key[9] = ((dstPort << 16) | srcPort) >>> 0;
  }
  return srcIsLow;
}

/** Key words that can be non-zero, by IP version: an IPv4 key's address words 2-4 and 6-8 are always zero. */
const IPV4_KEY_WORDS = Int32Array.of(0, 1, 5, 9);
const IPV6_KEY_WORDS = Int32Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);

/**
 * murmur3-style hash of the key words at `base` that can be non-zero (the version is in word
 * 0). One loop, no helper calls: a 32-bit word passed to a function V8 does not inline is
 * boxed on the heap.
 */
function hashKey(keys: Uint32Array, base: number): number {
  const words = ((keys[base] >>> 8) & 0xff) === 6 ? IPV6_KEY_WORDS : IPV4_KEY_WORDS;
  let h = 0x9747b28c;
  for (let i = 0; i < words.length; i++) {
    let k = Math.imul(keys[base + words[i]], 0xcc9e2d51);
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
  // int32, not uint32: a Smi, so the hash is never boxed as a heap number per packet
  return h;
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
