/**
 * Deterministic synthetic flow records for the store benchmark and the store/query tests:
 * a mesh of named nodes and users plus external hosts, most connections repeating one of a
 * few hundred conversations with heavy-tailed popularity, IPv4 and IPv6, TCP/UDP/ICMP with
 * plausible flags and states, interim records (seq > 0), nullable fields, and deliberately
 * repeated timestamps. Not traffic truth (that is the pcap generator's job): only
 * well-formed records with enough variety to exercise every column and filter.
 */
import type { ConnState, Direction, EndpointType, FlowRecord } from '../model/flow';
import { TCP_FLAGS } from '../model/flow';
import { communityIdV1 } from '../flow/communityId';
import { ipToBigInt } from '../store/ip';
import { Prng } from '../synth/prng';

/** A seeded source of numbers in [0, 1): the synthetic-capture generator's PRNG, so the agent has one. */
export function seededRandom(seed: number): () => number {
  const prng = new Prng(seed);
  return () => prng.next();
}

interface Host {
  ip: string;
  /** Address bytes (4 or 16), for the Community ID. */
  bytes: Uint8Array;
  name: string;
  type: EndpointType;
  v6: boolean;
}

function addressBytes(ip: string): Uint8Array {
  const number = ipToBigInt(ip)!;
  const length = ip.includes(':') ? 16 : 4;
  return Uint8Array.from({ length }, (_, i) => Number((number >> BigInt(8 * (length - 1 - i))) & 0xffn));
}

function hosts(): Host[] {
  const list: Omit<Host, 'bytes'>[] = [];
  for (let i = 1; i <= 40; i++) list.push({ ip: `100.64.0.${i}`, name: `node-${i}`, type: 'node', v6: false });
  for (let i = 1; i <= 30; i++) list.push({ ip: `100.64.1.${i}`, name: `user-${i}`, type: 'user', v6: false });
  for (let i = 1; i <= 20; i++) list.push({ ip: `fd7a:115c:a1e0::${i.toString(16)}`, name: `v6node-${i}`, type: 'node', v6: true });
  for (let i = 1; i <= 60; i++) list.push({ ip: `203.0.${113 + (i % 3)}.${i}`, name: '', type: 'external', v6: false });
  for (let i = 1; i <= 20; i++) list.push({ ip: `2001:db8:${i.toString(16)}::1`, name: '', type: 'external', v6: true });
  for (let i = 1; i <= 10; i++) list.push({ ip: `192.168.7.${i}`, name: `egress-${i}`, type: 'egress', v6: false });
  list.push({ ip: '10.9.9.9', name: '', type: 'unknown', v6: false });
  return list.map((host) => ({ ...host, bytes: addressBytes(host.ip) }));
}

const DOMAINS = ['', '', '', 'api.example.com', 'cdn.example.net', 'db.internal', 'Mixed.Case.Example'];
const NODES = ['node-a', 'node-b'];
const SERVICE_PORTS = [22, 53, 80, 443, 5432, 8080, 51820];
const TCP_STATES: ConnState[] = ['SF', 'S0', 'REJ', 'S1', 'RSTO', 'RSTR', 'SH', 'OTH'];
const DIRECTION_LIST: readonly Direction[] = ['inbound', 'outbound', 'forwarded'];
/** Known conversations and the share of connections that repeat one of them. */
const CONVERSATIONS = 400;
const REPEAT_SHARE = 0.85;

export interface GenerateOptions {
  seed: number;
  count: number;
  /** First record start, epoch µs. */
  startUs: number;
  /** Span over which record starts are spread, µs. */
  spanUs: number;
}

/** Generates `count` records with non-decreasing start times (like a flow table emits them). */
export function* generateFlowRecords(options: GenerateOptions): Generator<FlowRecord> {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const all = hosts();
  const v4 = all.filter((h) => !h.v6);
  const v6 = all.filter((h) => h.v6);
  const step = options.spanUs / Math.max(1, options.count);
  const conversations = Array.from({ length: CONVERSATIONS }, () => {
    const v6Conversation = random() < 0.2;
    const hostsOf = v6Conversation ? v6 : v4;
    return {
      v6: v6Conversation, src: pick(hostsOf), dst: pick(hostsOf), protoRoll: random(), port: pick(SERVICE_PORTS),
      node: pick(NODES), interface: random() < 0.8 ? 'wg0' : 'eth0', direction: pick(DIRECTION_LIST),
    };
  });
  // Zipf-like weights: conversation k is picked with probability ~ 1 / (k + 1).
  const cumulative: number[] = [];
  conversations.reduce((sum, _c, k) => (cumulative[k] = sum + 1 / (k + 1)), 0);
  const pickWeighted = (u: number) => {
    const target = u * cumulative[cumulative.length - 1];
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let flowNumber = 0;
  let interimOf: FlowRecord | null = null;
  for (let i = 0; i < options.count; i++) {
    // Every 7th start repeats the previous one exactly: paging must cope with equal timestamps.
    const startUs = Math.floor(options.startUs + (i % 7 === 3 ? i - 1 : i) * step);
    if (interimOf && random() < 0.5) {
      // The next record of a long-lived flow.
      const previous: FlowRecord = interimOf;
      const last = random() < 0.5;
      const durationUs = Math.floor(random() * 30_000_000);
      const record: FlowRecord = {
        ...previous,
        seq: previous.seq + 1,
        record_kind: last ? 'final' : 'interim',
        end_reason: last ? 'tcp_close' : 'active_timeout',
        start_us: startUs,
        end_us: startUs + durationUs,
        packets_tx: 1 + Math.floor(random() * 100),
        packets_rx: Math.floor(random() * 100),
        bytes_tx: 40 + Math.floor(random() * 150_000),
        bytes_rx: Math.floor(random() * 1_500_000),
      };
      interimOf = last ? null : record;
      yield record;
      continue;
    }
    // Most connections repeat a known conversation (heavy-tailed, like real meshes); the rest are random.
    const conversation = random() < REPEAT_SHARE ? conversations[pickWeighted(random())] : null;
    const useV6 = conversation ? conversation.v6 : random() < 0.2;
    const pool = useV6 ? v6 : v4;
    const src = conversation ? conversation.src : pick(pool);
    let dst = conversation ? conversation.dst : pick(pool);
    if (dst === src) dst = pool[(pool.indexOf(src) + 1) % pool.length];
    const protoRoll = conversation ? conversation.protoRoll : random();
    const protocol = protoRoll < 0.6 ? 'tcp' : protoRoll < 0.9 ? 'udp' : useV6 ? 'icmpv6' : 'icmp';
    const isIcmp = protocol === 'icmp' || protocol === 'icmpv6';
    const isTcp = protocol === 'tcp';
    const usual = conversation !== null && random() < 0.8;
    const state: ConnState | null = isTcp ? (usual ? 'SF' : pick(TCP_STATES)) : random() < 0.1 ? null : usual || random() < 0.5 ? 'SF' : 'S0';
    const flagsSrc = isTcp ? TCP_FLAGS.SYN | (state === 'S0' ? 0 : TCP_FLAGS.ACK) | (random() < 0.5 ? TCP_FLAGS.FIN | TCP_FLAGS.PSH : 0) : 0;
    const flagsDst = isTcp ? (state === 'S0' ? 0 : state === 'REJ' ? TCP_FLAGS.RST | TCP_FLAGS.ACK : TCP_FLAGS.SYN | TCP_FLAGS.ACK) : 0;
    const durationUs = Math.floor(random() * 60_000_000);
    const single = state === 'S0' || state === 'REJ';
    const packetsTx = 1 + Math.floor(random() * (single ? 3 : 200));
    const packetsRx = single && state === 'S0' ? 0 : Math.floor(random() * 300);
    const direction: Direction = conversation ? conversation.direction : pick(DIRECTION_LIST);
    const record: FlowRecord = {
      flow_id: `f${options.seed.toString(36)}-${(flowNumber++).toString(36)}`,
      seq: 0,
      record_kind: 'final',
      end_reason: isTcp ? (state === 'REJ' ? 'tcp_reset' : 'tcp_close') : 'idle_timeout',
      node: conversation ? conversation.node : pick(NODES),
      interface: conversation ? conversation.interface : random() < 0.8 ? 'wg0' : 'eth0',
      flow_start_us: startUs,
      start_us: startUs,
      end_us: startUs + durationUs,
      direction,
      ip_version: useV6 ? 6 : 4,
      protocol,
      protocol_number: protocol === 'tcp' ? 6 : protocol === 'udp' ? 17 : protocol === 'icmp' ? 1 : 58,
      src_ip: src.ip,
      src_port: isIcmp ? 0 : 1024 + Math.floor(random() * 60000),
      dst_ip: dst.ip,
      dst_port: isIcmp ? 0 : conversation ? conversation.port : pick(SERVICE_PORTS),
      src_name: src.name,
      src_type: src.type,
      dst_name: dst.name,
      dst_type: dst.type,
      dst_domain: dst.type === 'external' ? pick(DOMAINS) : '',
      icmp_type: isIcmp ? (useV6 ? 128 : 8) : null,
      icmp_code: isIcmp ? 0 : null,
      packets_tx: packetsTx,
      packets_rx: packetsRx,
      bytes_tx: packetsTx * (40 + Math.floor(random() * 1400)),
      bytes_rx: packetsRx * (40 + Math.floor(random() * 1400)),
      tcp_flags_src: flagsSrc,
      tcp_flags_dst: flagsDst,
      conn_state: state,
      community_id: '',
      icmp_id: isIcmp ? Math.floor(random() * 65536) : null,
      // a completed handshake is timed (SYN -> SYN/ACK over the path, SYN/ACK -> ACK at the client)
      tcp_synack_us: isTcp && !single ? 200 + Math.floor(random() * 80_000) : null,
      tcp_ack_us: isTcp && !single ? 20 + Math.floor(random() * 2_000) : null,
      dns_rtt_us: null,
    };
    if (protocol === 'udp' && record.dst_port === 53) record.dns_rtt_us = 300 + Math.floor(random() * 50_000);
    // A real Community ID (what the flow table emits); ICMP passes type and code as ports.
    record.community_id = isIcmp
      ? communityIdV1(record.protocol_number, src.bytes, dst.bytes, record.icmp_type!, record.icmp_code!)
      : communityIdV1(record.protocol_number, src.bytes, dst.bytes, record.src_port, record.dst_port);
    if (isTcp && !single && random() < 0.3) {
      record.record_kind = 'interim';
      record.end_reason = 'active_timeout';
      interimOf = record;
    }
    yield record;
  }
}
