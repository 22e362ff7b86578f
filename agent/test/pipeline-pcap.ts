/**
 * Test helper: builds small pcap files packet by packet (Ethernet, IPv4/IPv6, TCP/UDP/ICMP,
 * DNS answers) so pipeline and CLI tests read real files through real libpcap, with every
 * byte count known in advance.
 */
import { writeFileSync } from 'node:fs';
import { parseIp } from '../src/flow/addresses';

export interface Frame {
  tsUs: number;
  bytes: Uint8Array;
}

const MAC_A = [2, 0, 0, 0, 0, 1];
const MAC_B = [2, 0, 0, 0, 0, 2];

function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}
function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

function checksum(bytes: number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 };

export function tcpSegment(sport: number, dport: number, flags: number, payload: number[] = [], seq = 1000): number[] {
  return [...u16(sport), ...u16(dport), ...u32(seq), ...u32(0), 0x50, flags, ...u16(65535), 0, 0, 0, 0, ...payload];
}

export function udpDatagram(sport: number, dport: number, payload: number[]): number[] {
  return [...u16(sport), ...u16(dport), ...u16(8 + payload.length), 0, 0, ...payload];
}

export function icmpMessage(type: number, code: number, id: number, payload: number[] = []): number[] {
  return [type, code, 0, 0, ...u16(id), ...u16(1), ...payload];
}

/** An IP packet (v4 or v6 by address) carrying `transport`; returns the bytes from the IP header on. */
export function ipPacket(src: string, dst: string, protocol: number, transport: number[]): number[] {
  const s = parseIp(src)!;
  const d = parseIp(dst)!;
  if (s.version === 4) {
    const header = [0x45, 0, ...u16(20 + transport.length), 0, 1, 0, 0, 64, protocol, 0, 0, ...s.bytes, ...d.bytes];
    const c = checksum(header);
    header[10] = c >> 8;
    header[11] = c & 0xff;
    return [...header, ...transport];
  }
  return [0x60, 0, 0, 0, ...u16(transport.length), protocol, 64, ...s.bytes, ...d.bytes, ...transport];
}

export function ethernet(ip: number[], ethertype?: number): Uint8Array {
  const type = ethertype ?? (ip[0] >> 4 === 6 ? 0x86dd : 0x0800);
  return Uint8Array.from([...MAC_B, ...MAC_A, ...u16(type), ...ip]);
}

/** A DNS response for `name` with A/AAAA answers (owner = the question, via a pointer). */
export function dnsResponse(name: string, answers: string[], ttl = 300): number[] {
  const q: number[] = [];
  for (const label of name.split('.')) q.push(label.length, ...[...label].map((c) => c.charCodeAt(0)));
  q.push(0);
  const out = [...u16(0x4242), ...u16(0x8180), ...u16(1), ...u16(answers.length), 0, 0, 0, 0, ...q, ...u16(1), ...u16(1)];
  for (const a of answers) {
    const ip = parseIp(a)!;
    out.push(0xc0, 12, ...u16(ip.version === 4 ? 1 : 28), ...u16(1), ...u32(ttl), ...u16(ip.bytes.length), ...ip.bytes);
  }
  return out;
}

/** Writes a classic pcap (microsecond timestamps, Ethernet unless `linkType` says otherwise). */
export function writePcap(path: string, frames: Frame[], linkType = 1): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(linkType, 20);
  parts.push(header);
  for (const f of frames) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(f.tsUs / 1e6), 0);
    rec.writeUInt32LE(f.tsUs % 1e6, 4);
    rec.writeUInt32LE(f.bytes.length, 8);
    rec.writeUInt32LE(f.bytes.length, 12);
    parts.push(rec, Buffer.from(f.bytes));
  }
  const file = Buffer.concat(parts);
  writeFileSync(path, file);
  return file;
}

export const T0_US = 1_700_000_000_000_000;

/**
 * A small known scenario: a DNS lookup, an HTTPS-like TCP connection to the answer, a UDP
 * exchange, an IPv6 ping, an ARP frame and one truncated IPv4 packet.
 */
export function scenario(): { frames: Frame[]; expected: ExpectedFlow[] } {
  const frames: Frame[] = [];
  let t = T0_US;
  const add = (ip: number[], gapUs = 1000) => {
    frames.push({ tsUs: t, bytes: ethernet(ip) });
    t += gapUs;
  };
  const client = '10.0.0.1';
  const resolver = '10.0.0.53';
  const web = '93.184.216.34';
  const dnsQuery = [...u16(0x4242), ...u16(0x0100), ...u16(1), 0, 0, 0, 0, 0, 0, 3, 119, 119, 119, 7, 101, 120, 97, 109, 112, 108, 101, 3, 99, 111, 109, 0, 0, 1, 0, 1];
  add(ipPacket(client, resolver, 17, udpDatagram(53000, 53, dnsQuery)));
  add(ipPacket(resolver, client, 17, udpDatagram(53, 53000, dnsResponse('www.example.com', [web]))));
  const c2s = (flags: number, payload: number[] = []) => add(ipPacket(client, web, 6, tcpSegment(40000, 443, flags, payload)));
  const s2c = (flags: number, payload: number[] = []) => add(ipPacket(web, client, 6, tcpSegment(443, 40000, flags, payload)));
  c2s(TCP.SYN);
  s2c(TCP.SYN | TCP.ACK);
  c2s(TCP.ACK);
  c2s(TCP.PSH | TCP.ACK, new Array(100).fill(1));
  s2c(TCP.PSH | TCP.ACK, new Array(1000).fill(2));
  c2s(TCP.FIN | TCP.ACK);
  s2c(TCP.FIN | TCP.ACK);
  c2s(TCP.ACK);
  add(ipPacket(client, '8.8.8.8', 17, udpDatagram(41000, 4000, new Array(50).fill(3))));
  add(ipPacket('8.8.8.8', client, 17, udpDatagram(4000, 41000, new Array(70).fill(4))));
  add(ipPacket('fd00::1', 'fd00::2', 58, icmpMessage(128, 0, 77, new Array(56).fill(5))));
  add(ipPacket('fd00::2', 'fd00::1', 58, icmpMessage(129, 0, 77, new Array(56).fill(5))));
  frames.push({ tsUs: t, bytes: Uint8Array.from([...MAC_B, ...MAC_A, 0x08, 0x06, ...new Array(28).fill(0)]) }); // ARP
  t += 1000;
  frames.push({ tsUs: t, bytes: ethernet([0x45, 0, 0, 60, 0, 0]) }); // truncated IPv4 header
  const tcpLen = (payload: number) => 20 + 20 + payload;
  const expected: ExpectedFlow[] = [
    { protocol: 'udp', src_ip: client, src_port: 53000, dst_ip: resolver, dst_port: 53, packets_tx: 1, packets_rx: 1,
      bytes_tx: 20 + 8 + dnsQuery.length, bytes_rx: 20 + 8 + dnsResponse('www.example.com', [web]).length, conn_state: 'SF', dst_domain: '' },
    { protocol: 'tcp', src_ip: client, src_port: 40000, dst_ip: web, dst_port: 443, packets_tx: 5, packets_rx: 3,
      bytes_tx: tcpLen(0) * 4 + tcpLen(100), bytes_rx: tcpLen(0) * 2 + tcpLen(1000), conn_state: 'SF', dst_domain: 'www.example.com',
      tcp_flags_src: TCP.SYN | TCP.ACK | TCP.PSH | TCP.FIN, tcp_flags_dst: TCP.SYN | TCP.ACK | TCP.PSH | TCP.FIN },
    { protocol: 'udp', src_ip: client, src_port: 41000, dst_ip: '8.8.8.8', dst_port: 4000, packets_tx: 1, packets_rx: 1,
      bytes_tx: 20 + 8 + 50, bytes_rx: 20 + 8 + 70, conn_state: 'SF', dst_domain: '' },
    { protocol: 'icmpv6', src_ip: 'fd00::1', src_port: 0, dst_ip: 'fd00::2', dst_port: 0, packets_tx: 1, packets_rx: 1,
      bytes_tx: 40 + 8 + 56, bytes_rx: 40 + 8 + 56, conn_state: 'SF', dst_domain: '', icmp_type: 128, icmp_code: 0 },
  ];
  return { frames, expected };
}

export interface ExpectedFlow {
  protocol: string;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
  packets_tx: number;
  packets_rx: number;
  bytes_tx: number;
  bytes_rx: number;
  conn_state: string;
  dst_domain: string;
  tcp_flags_src?: number;
  tcp_flags_dst?: number;
  icmp_type?: number;
  icmp_code?: number;
}
