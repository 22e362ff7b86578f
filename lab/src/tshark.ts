/**
 * tshark as an independent reference for a capture file: its TCP and UDP conversation tables
 * (`-z conv,tcp -z conv,udp`, exact frame counts per direction) and exact per-direction
 * bytes per conversation, converted from frame bytes to IP bytes by subtracting each
 * packet's link-layer header (tshark prints byte totals in rounded units, so bytes are summed
 * from per-packet fields of the same tshark run's dissection instead).
 */
import { runSync } from './run';

export interface Endpoint {
  ip: string;
  port: number;
}

export interface TsharkConversation {
  protocol: 'tcp' | 'udp';
  /** tshark's "A" (left) and "B" (right) endpoints. */
  a: Endpoint;
  b: Endpoint;
  framesAtoB: number;
  framesBtoA: number;
  /** IP-layer bytes each way (frame length minus link header), from per-packet fields. */
  ipBytesAtoB: number;
  ipBytesBtoA: number;
}

/** Link-layer header length in front of IP, from tshark's frame.protocols ("eth:ethertype:ip:tcp"...). */
export function linkHeaderLength(protocols: string): number {
  const layers = protocols.split(':');
  const ipAt = layers.findIndex((l) => l === 'ip' || l === 'ipv6');
  const below = layers.slice(0, Math.max(ipAt, 0));
  let length = 0;
  for (const layer of below) {
    if (layer === 'eth') length += 14;
    else if (layer === 'vlan') length += 4;
    else if (layer === 'sll') length += 16; // Linux cooked v1 (the lab never writes SLL2)
    else if (layer === 'null' || layer === 'loop') length += 4;
    else if (layer !== 'raw' && layer !== 'ethertype') throw new Error(`unexpected link layer "${layer}" in ${protocols}`);
  }
  return length;
}

const endpointKey = (protocol: string, x: Endpoint, y: Endpoint) => `${protocol} ${x.ip}:${x.port} ${y.ip}:${y.port}`;

/** Reads the TCP and UDP conversations of a capture file as tshark sees them. */
export function tsharkConversations(file: string): TsharkConversation[] {
  const tables = runSync('tshark', ['-r', file, '-n', '-q', '-z', 'conv,tcp', '-z', 'conv,udp'], { timeoutMs: 30_000 });
  const conversations: TsharkConversation[] = [];
  let protocol: 'tcp' | 'udp' | null = null;
  for (const line of tables.split('\n')) {
    if (line.startsWith('TCP Conversations')) protocol = 'tcp';
    else if (line.startsWith('UDP Conversations')) protocol = 'udp';
    const fields = line.trim().split(/\s+/);
    if (!protocol || fields[1] !== '<->') continue;
    // A <-> B framesBtoA bytes unit framesAtoB bytes unit totalFrames bytes unit start duration
    conversations.push({
      protocol,
      a: parseEndpoint(fields[0]),
      b: parseEndpoint(fields[2]),
      framesBtoA: Number(fields[3]),
      framesAtoB: Number(fields[6]),
      ipBytesAtoB: 0,
      ipBytesBtoA: 0,
    });
  }

  const byKey = new Map<string, { conv: TsharkConversation; forward: boolean }>();
  for (const conv of conversations) {
    byKey.set(endpointKey(conv.protocol, conv.a, conv.b), { conv, forward: true });
    byKey.set(endpointKey(conv.protocol, conv.b, conv.a), { conv, forward: false });
  }
  const packets = runSync('tshark', [
    '-r', file, '-n', '-Y', 'tcp or udp', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f',
    '-e', 'frame.protocols', '-e', 'frame.len', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ipv6.src', '-e', 'ipv6.dst',
    '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'udp.srcport', '-e', 'udp.dstport',
  ], { timeoutMs: 30_000 });
  for (const line of packets.split('\n')) {
    if (!line.trim()) continue;
    const [protocols, frameLen, src4, dst4, src6, dst6, tsp, tdp, usp, udp] = line.split('\t');
    const protocol = tsp ? 'tcp' : 'udp';
    const src = { ip: src4 || src6, port: Number(tsp || usp) };
    const dst = { ip: dst4 || dst6, port: Number(tdp || udp) };
    const hit = byKey.get(endpointKey(protocol, src, dst));
    if (!hit) continue; // e.g. ICMP-quoted headers are not conversations
    const ipBytes = Number(frameLen) - linkHeaderLength(protocols);
    if (hit.forward) hit.conv.ipBytesAtoB += ipBytes;
    else hit.conv.ipBytesBtoA += ipBytes;
  }
  return conversations;
}

function parseEndpoint(text: string): Endpoint {
  const colon = text.lastIndexOf(':');
  return { ip: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}
