/**
 * The bench's own deterministic capture writer: Ethernet pcap files with an exact ground
 * truth, for the corpora the agent's generator does not shape (N concurrent flows for the
 * memory section, small full-length frames for live replay) and as the offline corpus when
 * the agent's `gen-pcap` is not built.
 *
 * Traffic: a seeded mix of TCP over IPv4 and IPv6 with full handshakes, data both ways and
 * FIN closes, refused connections (SYN, RST-ACK), unanswered SYNs, DNS queries with answers,
 * ICMP echo, and bulk UDP. `concurrency` flows are open at once, packets interleaved
 * round-robin; every flow has a unique 5-tuple, so any flow meter must find exactly
 * `flows` connections whatever its timeouts.
 *
 * Packets may be truncated to `snapLen` on capture (caplen < len), as flow exporters
 * capture; header lengths and IP length fields always describe the full packet.
 */
import { closeSync, openSync, renameSync, writeSync } from 'node:fs';

export interface SyntheticOptions {
  seed: number;
  /** Connections to generate. */
  flows: number;
  /** Mean TCP/UDP-bulk data packets per connection (sets the file's packet count). */
  meanDataPackets: number;
  /** Connections open at once (packets interleave across them). */
  concurrency: number;
  /** Largest application payload of a data packet, bytes. */
  maxPayload: number;
  /** Bytes captured per packet (0 = whole packet). */
  snapLen: number;
  /** Gap between consecutive packets, µs. */
  packetGapUs: number;
  /** Only one packet per connection (a UDP datagram): the concurrent-flows corpus. */
  singlePacketFlows?: boolean;
  /** First packet time, epoch µs. */
  startUs?: number;
}

export interface CaptureTruth {
  generator: 'bench-synthetic' | 'flowmesh-agent gen-pcap';
  options: object;
  packets: number;
  flows: number;
  /** Directions with at least one packet (what unidirectional exporters report). */
  uniflows: number;
  /** IP-layer bytes (header + payload), the agent's byte definition. */
  ipBytes: number;
  /** Frame bytes on the wire (Ethernet header included), what tshark and argus count. */
  frameBytes: number;
  /** Bytes captured in the file (less than frameBytes when the snap length cut frames); absent: all. */
  capturedBytes?: number;
  flowsByProtocol: Record<string, number>;
  ipv6Flows: number;
  firstUs: number;
  lastUs: number;
}

const PCAP_HEADER = Buffer.from([
  0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
]);
const ETH_LEN = 14;
const CHUNK_BYTES = 8 << 20;
const MAX_FRAME = 1600;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

/** mulberry32. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enum Kind {
  TcpFull,
  TcpRefused,
  TcpSynOnly,
  Dns,
  IcmpEcho,
  UdpBulk,
}

/** One packet of a connection's script: who sends, transport flags, payload size. */
interface Step {
  fromClient: boolean;
  flags: number;
  payload: number;
}

interface Conn {
  index: number;
  kind: Kind;
  v6: boolean;
  steps: Step[];
  next: number;
  seqC: number;
  seqS: number;
}

/** Writes the capture to `path` (atomically: a temp file renamed at the end) and returns its truth. */
export function writeSyntheticCapture(path: string, options: SyntheticOptions): CaptureTruth {
  const random = seededRandom(options.seed);
  const startUs = options.startUs ?? 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
  const truth: CaptureTruth = {
    generator: 'bench-synthetic', options, packets: 0, flows: 0, uniflows: 0, ipBytes: 0, frameBytes: 0,
    flowsByProtocol: {}, ipv6Flows: 0, firstUs: startUs, lastUs: startUs,
  };
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  const chunk = Buffer.alloc(CHUNK_BYTES);
  let used = 0;
  const frame = Buffer.alloc(MAX_FRAME);
  writeSync(fd, PCAP_HEADER);

  const payloadSize = () => 1 + Math.floor(random() * options.maxPayload);
  const dataCount = () => Math.floor(random() * (2 * options.meanDataPackets + 1));

  const script = (kind: Kind): Step[] => {
    const s: Step[] = [];
    const both = (n: number, flags: number) => {
      for (let i = 0; i < n; i++) s.push({ fromClient: i % 3 !== 1, flags, payload: payloadSize() });
    };
    switch (kind) {
      case Kind.TcpFull:
        s.push({ fromClient: true, flags: SYN, payload: 0 }, { fromClient: false, flags: SYN | ACK, payload: 0 }, { fromClient: true, flags: ACK, payload: 0 });
        both(dataCount(), PSH | ACK);
        s.push({ fromClient: true, flags: FIN | ACK, payload: 0 }, { fromClient: false, flags: FIN | ACK, payload: 0 }, { fromClient: true, flags: ACK, payload: 0 });
        break;
      case Kind.TcpRefused:
        s.push({ fromClient: true, flags: SYN, payload: 0 }, { fromClient: false, flags: RST | ACK, payload: 0 });
        break;
      case Kind.TcpSynOnly:
        s.push({ fromClient: true, flags: SYN, payload: 0 });
        break;
      case Kind.Dns:
      case Kind.IcmpEcho:
        s.push({ fromClient: true, flags: 0, payload: 0 }, { fromClient: false, flags: 0, payload: 0 });
        break;
      case Kind.UdpBulk:
        s.push({ fromClient: true, flags: 0, payload: payloadSize() });
        both(dataCount(), 0);
        break;
    }
    return s;
  };

  const pickKind = (): Kind => {
    if (options.singlePacketFlows) return Kind.UdpBulk;
    const r = random();
    if (r < 0.62) return Kind.TcpFull;
    if (r < 0.67) return Kind.TcpRefused;
    if (r < 0.7) return Kind.TcpSynOnly;
    if (r < 0.88) return Kind.Dns;
    if (r < 0.93) return Kind.IcmpEcho;
    return Kind.UdpBulk;
  };

  let started = 0;
  const open = (): Conn => {
    const kind = pickKind();
    const v6 = kind === Kind.Dns ? random() < 0.1 : random() < 0.25;
    const steps = options.singlePacketFlows ? [{ fromClient: true, flags: 0, payload: 16 }] : script(kind);
    const conn: Conn = { index: started++, kind, v6, steps, next: 0, seqC: Math.floor(random() * 2 ** 31), seqS: Math.floor(random() * 2 ** 31) };
    const proto = kind === Kind.Dns || kind === Kind.UdpBulk ? 'udp' : kind === Kind.IcmpEcho ? (v6 ? 'icmpv6' : 'icmp') : 'tcp';
    truth.flows++;
    truth.flowsByProtocol[proto] = (truth.flowsByProtocol[proto] ?? 0) + 1;
    if (v6) truth.ipv6Flows++;
    truth.uniflows += steps.some((x) => !x.fromClient) ? 2 : 1;
    return conn;
  };

  let tsUs = startUs;
  const emit = (conn: Conn, step: Step): void => {
    const wireLen = buildFrame(frame, conn, step);
    const capLen = options.snapLen > 0 ? Math.min(wireLen, options.snapLen) : wireLen;
    if (used + 16 + capLen > CHUNK_BYTES) {
      writeSync(fd, chunk, 0, used);
      used = 0;
    }
    chunk.writeUInt32LE(Math.floor(tsUs / 1e6), used);
    chunk.writeUInt32LE(tsUs % 1e6, used + 4);
    chunk.writeUInt32LE(capLen, used + 8);
    chunk.writeUInt32LE(wireLen, used + 12);
    frame.copy(chunk, used + 16, 0, capLen);
    used += 16 + capLen;
    truth.packets++;
    truth.frameBytes += wireLen;
    truth.ipBytes += wireLen - ETH_LEN;
    truth.lastUs = tsUs;
    tsUs += options.packetGapUs;
  };

  const active: Conn[] = [];
  while (active.length < Math.min(options.concurrency, options.flows)) active.push(open());
  let cursor = 0;
  while (active.length > 0) {
    if (cursor >= active.length) cursor = 0;
    const conn = active[cursor];
    emit(conn, conn.steps[conn.next++]);
    if (conn.next >= conn.steps.length) {
      if (started < options.flows) active[cursor] = open();
      else active.splice(cursor, 1);
    }
    cursor++;
  }
  if (used > 0) writeSync(fd, chunk, 0, used);
  closeSync(fd);
  renameSync(tmp, path);
  return truth;
}

/** Client/server addresses and ports from the connection index: unique 5-tuples, no allocation. */
function endpoints(conn: Conn): { clientHost: number; clientPort: number; server: number; serverPort: number } {
  const i = conn.index;
  const server = conn.kind === Kind.Dns ? 53 : 1 + (i % 200);
  const serverPort = conn.kind === Kind.Dns ? 53 : conn.kind === Kind.UdpBulk ? 51820 : [443, 80, 22, 5432, 8080][i % 5];
  // ICMP has no ports: a client address per echo flow keeps tools that ignore the echo id exact too.
  const clientHost = conn.kind === Kind.IcmpEcho ? (1 << 20) + i : i >>> 12;
  return { clientHost, clientPort: 10000 + (i & 4095), server, serverPort };
}

const MAC_CLIENT = [0x02, 0, 0, 0, 0, 0x01];
const MAC_SERVER = [0x02, 0, 0, 0, 0, 0x02];

/** Writes one Ethernet frame into `f`; returns its length. */
function buildFrame(f: Buffer, conn: Conn, step: Step): number {
  const e = endpoints(conn);
  const c = step.fromClient;
  for (let k = 0; k < 6; k++) {
    f[k] = c ? MAC_SERVER[k] : MAC_CLIENT[k];
    f[6 + k] = c ? MAC_CLIENT[k] : MAC_SERVER[k];
  }
  f.writeUInt16BE(conn.v6 ? 0x86dd : 0x0800, 12);
  const ipOff = ETH_LEN;
  const ipHeader = conn.v6 ? 40 : 20;
  const l4 = ipOff + ipHeader;
  let protocol: number;
  let l4Len: number;
  switch (conn.kind) {
    case Kind.TcpFull:
    case Kind.TcpRefused:
    case Kind.TcpSynOnly: {
      protocol = 6;
      l4Len = 20 + step.payload;
      f.writeUInt16BE(c ? e.clientPort : e.serverPort, l4);
      f.writeUInt16BE(c ? e.serverPort : e.clientPort, l4 + 2);
      f.writeUInt32BE((c ? conn.seqC : conn.seqS) >>> 0, l4 + 4);
      f.writeUInt32BE((c ? conn.seqS : conn.seqC) >>> 0, l4 + 8);
      f[l4 + 12] = 5 << 4;
      f[l4 + 13] = step.flags;
      f.writeUInt16BE(65535, l4 + 14);
      f.writeUInt32BE(0, l4 + 16);
      const advance = step.payload + (step.flags & (SYN | FIN) ? 1 : 0);
      if (c) conn.seqC = (conn.seqC + advance) % 2 ** 32;
      else conn.seqS = (conn.seqS + advance) % 2 ** 32;
      f.fill(0x61, l4 + 20, l4 + l4Len);
      break;
    }
    case Kind.Dns: {
      protocol = 17;
      const dnsLen = writeDns(f, l4 + 8, conn, c);
      l4Len = 8 + dnsLen;
      writeUdpHeader(f, l4, c ? e.clientPort : 53, c ? 53 : e.clientPort, l4Len);
      break;
    }
    case Kind.UdpBulk: {
      protocol = 17;
      l4Len = 8 + step.payload;
      writeUdpHeader(f, l4, c ? e.clientPort : e.serverPort, c ? e.serverPort : e.clientPort, l4Len);
      f.fill(0x62, l4 + 8, l4 + l4Len);
      break;
    }
    case Kind.IcmpEcho: {
      protocol = conn.v6 ? 58 : 1;
      l4Len = 8 + 32;
      f[l4] = conn.v6 ? (c ? 128 : 129) : c ? 8 : 0;
      f[l4 + 1] = 0;
      f.writeUInt16BE(0, l4 + 2);
      f.writeUInt16BE(conn.index & 0xffff, l4 + 4);
      f.writeUInt16BE(1, l4 + 6);
      f.fill(0x63, l4 + 8, l4 + l4Len);
      break;
    }
  }
  const ipLen = ipHeader + l4Len;
  if (conn.v6) writeIpv6(f, ipOff, protocol, l4Len, e, c);
  else writeIpv4(f, ipOff, protocol, ipLen, e, c);
  return ETH_LEN + ipLen;
}

function writeUdpHeader(f: Buffer, off: number, sport: number, dport: number, len: number): void {
  f.writeUInt16BE(sport, off);
  f.writeUInt16BE(dport, off + 2);
  f.writeUInt16BE(len, off + 4);
  f.writeUInt16BE(0, off + 6);
}

/** 10.64.0.0/10 clients (index-derived), 10.200.0.x servers. */
function ipv4Of(client: boolean, e: ReturnType<typeof endpoints>): number {
  return client ? ((10 << 24) | (64 << 16)) + e.clientHost : ((10 << 24) | (200 << 16)) + e.server;
}

function writeIpv4(f: Buffer, off: number, protocol: number, totalLen: number, e: ReturnType<typeof endpoints>, c: boolean): void {
  f[off] = 0x45;
  f[off + 1] = 0;
  f.writeUInt16BE(totalLen, off + 2);
  f.writeUInt32BE(0x40000000, off + 4); // id 0, DF
  f[off + 8] = 64;
  f[off + 9] = protocol;
  f.writeUInt16BE(0, off + 10);
  f.writeUInt32BE(ipv4Of(c, e) >>> 0, off + 12);
  f.writeUInt32BE(ipv4Of(!c, e) >>> 0, off + 16);
  let sum = 0;
  for (let k = 0; k < 20; k += 2) sum += f.readUInt16BE(off + k);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  f.writeUInt16BE(~sum & 0xffff, off + 10);
}

function writeIpv6(f: Buffer, off: number, protocol: number, payloadLen: number, e: ReturnType<typeof endpoints>, c: boolean): void {
  f.writeUInt32BE(0x60000000, off);
  f.writeUInt16BE(payloadLen, off + 4);
  f[off + 6] = protocol;
  f[off + 7] = 64;
  writeV6Address(f, c ? off + 8 : off + 24, true, e);
  writeV6Address(f, c ? off + 24 : off + 8, false, e);
}

/** fd00:64::<index> clients, fd00:200::<n> servers. */
function writeV6Address(f: Buffer, at: number, client: boolean, e: ReturnType<typeof endpoints>): void {
  f.fill(0, at, at + 16);
  f.writeUInt16BE(0xfd00, at);
  f.writeUInt16BE(client ? 0x64 : 0x200, at + 2);
  f.writeUInt32BE(client ? e.clientHost : e.server, at + 12);
}

/** A DNS query for h<index>.example.com (A), or its answer pointing at a server address. */
function writeDns(f: Buffer, off: number, conn: Conn, query: boolean): number {
  f.writeUInt16BE(conn.index & 0xffff, off);
  f.writeUInt16BE(query ? 0x0100 : 0x8180, off + 2);
  f.writeUInt16BE(1, off + 4);
  f.writeUInt16BE(query ? 0 : 1, off + 6);
  f.writeUInt32BE(0, off + 8);
  let p = off + 12;
  const host = `h${conn.index}`;
  f[p++] = host.length;
  p += f.write(host, p, 'latin1');
  f[p++] = 7;
  p += f.write('example', p, 'latin1');
  f[p++] = 3;
  p += f.write('com', p, 'latin1');
  f[p++] = 0;
  f.writeUInt16BE(1, p);
  f.writeUInt16BE(1, p + 2);
  p += 4;
  if (!query) {
    f.writeUInt16BE(0xc00c, p);
    f.writeUInt16BE(1, p + 2);
    f.writeUInt16BE(1, p + 4);
    f.writeUInt32BE(300, p + 6);
    f.writeUInt16BE(4, p + 10);
    f.writeUInt32BE((((10 << 24) | (200 << 16)) + 1 + (conn.index % 200)) >>> 0, p + 12);
    p += 16;
  }
  return p - off;
}
