/**
 * Test helper: hand-crafted packets, byte by byte, for decoder tests. Every header field
 * can be overridden so malformed variants are one option away. Checksums are left zero
 * (the decoder does not validate them).
 */

export type Bytes = number[];

export function u16(v: number): Bytes {
  return [(v >> 8) & 0xff, v & 0xff];
}

export function u32(v: number): Bytes {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

/** Parses dotted IPv4 or IPv6 (with ::) into bytes. */
export function ipBytes(text: string): Bytes {
  if (text.includes('.')) return text.split('.').map(Number);
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((g) => u16(g));
}

export interface Ipv4Options {
  id?: number;
  moreFragments?: boolean;
  fragmentOffset?: number;
  /** IP options bytes (padded to 4 by the caller). */
  options?: Bytes;
  totalLength?: number;
  /** Overrides the IHL nibble. */
  ihl?: number;
  version?: number;
}

export function ipv4(src: string, dst: string, protocol: number, payload: Bytes, o: Ipv4Options = {}): Bytes {
  const options = o.options ?? [];
  const headerLen = 20 + options.length;
  const ihl = o.ihl ?? headerLen / 4;
  const flags = (o.moreFragments ? 0x2000 : 0) | ((o.fragmentOffset ?? 0) >> 3);
  return [
    ((o.version ?? 4) << 4) | ihl,
    0,
    ...u16(o.totalLength ?? headerLen + payload.length),
    ...u16(o.id ?? 0x1234),
    ...u16(flags),
    64,
    protocol,
    0,
    0,
    ...ipBytes(src),
    ...ipBytes(dst),
    ...options,
    ...payload,
  ];
}

/** An IPv6 extension header in the generic (next, length-in-8-octets-minus-1) layout. */
export function ext6(next: number, totalLen = 8): Bytes {
  return [next, totalLen / 8 - 1, 1, totalLen - 4, ...Array(totalLen - 4).fill(0)];
}

export function fragment6(next: number, offset: number, more: boolean, id: number): Bytes {
  return [next, 0, ...u16((offset & 0xfff8) | (more ? 1 : 0)), ...u32(id)];
}

/** AH: length field in 4-octet units minus 2. */
export function ah6(next: number, totalLen = 24): Bytes {
  return [next, totalLen / 4 - 2, 0, 0, ...Array(totalLen - 4).fill(0)];
}

export function ipv6(src: string, dst: string, nextHeader: number, payload: Bytes, payloadLength?: number): Bytes {
  return [0x60, 0, 0, 0, ...u16(payloadLength ?? payload.length), nextHeader, 64, ...ipBytes(src), ...ipBytes(dst), ...payload];
}

export function tcp(sport: number, dport: number, flags: number, payload: Bytes = [], dataOffsetWords = 5): Bytes {
  const options = Array(Math.max(0, dataOffsetWords - 5) * 4).fill(1);
  return [...u16(sport), ...u16(dport), ...u32(1000), ...u32(2000), dataOffsetWords << 4, flags, ...u16(65535), 0, 0, 0, 0, ...options, ...payload];
}

export function udp(sport: number, dport: number, payload: Bytes = [], length?: number): Bytes {
  return [...u16(sport), ...u16(dport), ...u16(length ?? 8 + payload.length), 0, 0, ...payload];
}

export function icmp(type: number, code: number, rest: Bytes = [0, 0, 0, 0], payload: Bytes = []): Bytes {
  return [type, code, 0, 0, ...rest, ...payload];
}

export function sctp(sport: number, dport: number): Bytes {
  return [...u16(sport), ...u16(dport), ...u32(0xdeadbeef), ...u32(0)];
}

export const MAC_A = [0x02, 0, 0, 0, 0, 0x0a];
export const MAC_B = [0x02, 0, 0, 0, 0, 0x0b];

/** Ethernet II frame; `tags` = [tpid, vid] VLAN tags outermost first. */
export function ethernet(payload: Bytes, ethertype: number, tags: Array<[number, number]> = []): Bytes {
  return [...MAC_B, ...MAC_A, ...tags.flatMap(([tpid, vid]) => [...u16(tpid), ...u16(vid)]), ...u16(ethertype), ...payload];
}

/** Linux cooked v1: packet type, ARPHRD, address length, 8 address bytes, protocol. */
export function sll(payload: Bytes, protocol: number, hatype = 1): Bytes {
  return [...u16(0), ...u16(hatype), ...u16(6), ...MAC_A, 0, 0, ...u16(protocol), ...payload];
}

/** Linux cooked v2: protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 address bytes. */
export function sll2(payload: Bytes, protocol: number): Bytes {
  return [...u16(protocol), 0, 0, ...u32(3), ...u16(1), 4, 6, ...MAC_A, 0, 0, ...payload];
}

/** BSD loopback: 4-byte address family in little- or big-endian order. */
export function nullLink(payload: Bytes, family: number, bigEndian = false): Bytes {
  const af = bigEndian ? u32(family) : u32(family).reverse();
  return [...af, ...payload];
}

export function buf(bytes: Bytes): Buffer {
  return Buffer.from(bytes);
}
