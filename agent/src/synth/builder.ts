/**
 * Writes one packet at a time into the pcap writer's chunk: pcap record header, link
 * header (Ethernet with optional 802.1Q/QinQ tags, raw IP, SLL, SLL2, BSD NULL), IPv4 or
 * IPv6 (optional hop-by-hop or destination-options header, IPv4 fragments) and the
 * transport header with a correct checksum. Payload bytes are left zero (the chunk is
 * zeroed between writes) unless the caller supplies them (DNS, ICMP error quotes), so a
 * checksum only sums headers and supplied payload.
 */
import type { PcapWriter } from './writer';

export type SynthLinkType = 'ethernet' | 'raw' | 'sll' | 'sll2' | 'null';
export const SYNTH_LINK_TYPES: Record<SynthLinkType, number> = { ethernet: 1, raw: 101, sll: 113, sll2: 276, null: 0 };

export const IPV6_EXT_NONE = -1;
export const IPV6_EXT_HOP_BY_HOP = 0;
export const IPV6_EXT_DEST_OPTIONS = 60;

/** The two ends of a flow and how its frames look on the link. */
export interface Endpoints {
  v: 4 | 6;
  /** Initiator and responder addresses (4 or 16 bytes). */
  a: Uint8Array;
  b: Uint8Array;
  aMac: Uint8Array;
  bMac: Uint8Array;
  /** VLAN ids, outermost first: [] untagged, [id] 802.1Q, [outer, inner] QinQ (802.1ad outer). */
  vlan: number[];
  /** IPv6 extension header carried by every packet: IPV6_EXT_NONE, _HOP_BY_HOP or _DEST_OPTIONS. */
  ext: number;
  /** True when the initiator is the capturing host (SLL packet type "outgoing"). */
  aLocal: boolean;
}

const ETHERNET_MIN_FRAME = 60;

function sum16(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export class PacketBuilder {
  /** IP-layer bytes and frame (on-the-wire) bytes of the last packet written. */
  ipBytes = 0;
  frameBytes = 0;
  private readonly linkType: SynthLinkType;
  private readonly snapLen: number;
  private readonly buf: Buffer;
  /** Pseudo-header sum for the transport checksum of the packet being written. */
  private pseudo = 0;
  private capLen = 0;
  private nextIpId = 1;

  constructor(private readonly writer: PcapWriter, linkType: SynthLinkType, snapLen: number) {
    this.linkType = linkType;
    this.snapLen = snapLen;
    this.buf = writer.chunk;
  }

  private linkHeaderLength(e: Endpoints): number {
    switch (this.linkType) {
      case 'ethernet':
        return 14 + 4 * e.vlan.length;
      case 'sll':
        return 16;
      case 'sll2':
        return 20;
      case 'null':
        return 4;
      case 'raw':
        return 0;
    }
  }

  /**
   * Starts a packet from the initiator (`forward`) or the responder, with `l4Len` bytes
   * after the IP header(s); returns the chunk offset of the transport header.
   * `fragment`: [id, offset in bytes, more fragments] for IPv4 fragments, else null.
   * `pseudoLength`: transport length for the checksum pseudo-header (the whole datagram for fragments).
   */
  begin(
    tsUs: number,
    e: Endpoints,
    forward: boolean,
    protocol: number,
    l4Len: number,
    fragment: readonly [number, number, boolean] | null = null,
    pseudoLength = l4Len,
  ): number {
    const linkLen = this.linkHeaderLength(e);
    const extLen = e.v === 6 && e.ext !== IPV6_EXT_NONE ? 8 : 0;
    const ipHeaderLen = e.v === 4 ? 20 : 40 + extLen;
    const ipBytes = ipHeaderLen + l4Len;
    let frameLen = linkLen + ipBytes;
    // Frames received from the wire are padded to the Ethernet minimum; IP length excludes it.
    if (this.linkType === 'ethernet' && !forward && frameLen < ETHERNET_MIN_FRAME) frameLen = ETHERNET_MIN_FRAME;
    this.ipBytes = ipBytes;
    this.frameBytes = frameLen;
    this.capLen = frameLen < this.snapLen ? frameLen : this.snapLen;

    const buf = this.buf;
    const r = this.writer.reserve(16 + frameLen);
    const sec = Math.floor(tsUs / 1e6);
    buf.writeUInt32LE(sec, r);
    buf.writeUInt32LE(tsUs - sec * 1e6, r + 4);
    buf.writeUInt32LE(this.capLen, r + 8);
    buf.writeUInt32LE(frameLen, r + 12);

    const src = forward ? e.a : e.b;
    const dst = forward ? e.b : e.a;
    const ethertype = e.v === 4 ? 0x0800 : 0x86dd;
    const senderLocal = forward === e.aLocal;
    let p = r + 16;
    switch (this.linkType) {
      case 'ethernet': {
        buf.set(forward ? e.bMac : e.aMac, p);
        buf.set(forward ? e.aMac : e.bMac, p + 6);
        p += 12;
        for (let i = 0; i < e.vlan.length; i++) {
          buf.writeUInt16BE(e.vlan.length === 2 && i === 0 ? 0x88a8 : 0x8100, p);
          buf.writeUInt16BE(e.vlan[i] & 0x0fff, p + 2);
          p += 4;
        }
        buf.writeUInt16BE(ethertype, p);
        p += 2;
        break;
      }
      case 'sll':
        buf.writeUInt16BE(senderLocal ? 4 : 0, p); // packet type: outgoing / to us
        buf.writeUInt16BE(1, p + 2); // ARPHRD_ETHER
        buf.writeUInt16BE(6, p + 4);
        buf.set(forward ? e.aMac : e.bMac, p + 6);
        buf.writeUInt16BE(ethertype, p + 14);
        p += 16;
        break;
      case 'sll2':
        buf.writeUInt16BE(ethertype, p);
        buf.writeUInt32BE(2, p + 4); // interface index
        buf.writeUInt16BE(1, p + 8); // ARPHRD_ETHER
        buf[p + 10] = senderLocal ? 4 : 0;
        buf[p + 11] = 6;
        buf.set(forward ? e.aMac : e.bMac, p + 12);
        p += 20;
        break;
      case 'null':
        buf.writeUInt32LE(e.v === 4 ? 2 : 30, p); // AF_INET / AF_INET6 (macOS), host (little-endian) order
        p += 4;
        break;
      case 'raw':
        break;
    }

    if (e.v === 4) {
      buf[p] = 0x45;
      buf.writeUInt16BE(ipBytes, p + 2);
      if (fragment) {
        buf.writeUInt16BE(fragment[0], p + 4);
        buf.writeUInt16BE((fragment[2] ? 0x2000 : 0) | (fragment[1] >> 3), p + 6);
      } else {
        buf.writeUInt16BE(this.nextIpId, p + 4);
        this.nextIpId = (this.nextIpId + 1) & 0xffff;
        if (protocol === 6) buf[p + 6] = 0x40; // DF
      }
      buf[p + 8] = 64;
      buf[p + 9] = protocol;
      buf.set(src, p + 12);
      buf.set(dst, p + 16);
      buf.writeUInt16BE(fold(sum16(buf, p, p + 20)), p + 10);
      this.pseudo = sum16(src, 0, 4) + sum16(dst, 0, 4) + protocol + pseudoLength;
      return p + 20;
    }
    buf[p] = 0x60;
    buf.writeUInt16BE(extLen + l4Len, p + 4);
    buf[p + 6] = extLen ? e.ext : protocol;
    buf[p + 7] = 64;
    buf.set(src, p + 8);
    buf.set(dst, p + 24);
    p += 40;
    if (extLen) {
      buf[p] = protocol;
      buf[p + 1] = 0; // (0 + 1) * 8 bytes
      buf[p + 2] = 1; // PadN option
      buf[p + 3] = 4;
      p += 8;
    }
    this.pseudo = sum16(src, 0, 16) + sum16(dst, 0, 16) + protocol + pseudoLength;
    return p;
  }

  /** Ends the packet: truncates the record to the snap length if needed. */
  private end(): void {
    const unused = this.frameBytes - this.capLen;
    if (unused > 0) this.writer.shrinkLast(unused);
  }

  tcp(
    tsUs: number,
    e: Endpoints,
    forward: boolean,
    sport: number,
    dport: number,
    seq: number,
    ack: number,
    flags: number,
    payloadLen: number,
  ): void {
    const withMss = (flags & 0x02) !== 0;
    const headerLen = withMss ? 24 : 20;
    const t = this.begin(tsUs, e, forward, 6, headerLen + payloadLen);
    const buf = this.buf;
    buf.writeUInt16BE(sport, t);
    buf.writeUInt16BE(dport, t + 2);
    buf.writeUInt32BE(seq >>> 0, t + 4);
    buf.writeUInt32BE(flags & 0x10 ? ack >>> 0 : 0, t + 8);
    buf[t + 12] = (headerLen / 4) << 4;
    buf[t + 13] = flags;
    buf.writeUInt16BE(64240, t + 14);
    if (withMss) {
      buf[t + 20] = 2;
      buf[t + 21] = 4;
      buf.writeUInt16BE(e.v === 4 ? 1460 : 1440, t + 22);
    }
    buf.writeUInt16BE(fold(this.pseudo + sum16(buf, t, t + headerLen)), t + 16);
    this.end();
  }

  /** A UDP datagram; `payload` bytes are copied (else the payload is zeros). */
  udp(tsUs: number, e: Endpoints, forward: boolean, sport: number, dport: number, payloadLen: number, payload?: Uint8Array): void {
    const udpLen = 8 + payloadLen;
    const t = this.begin(tsUs, e, forward, 17, udpLen);
    const buf = this.buf;
    this.udpHeader(t, sport, dport, udpLen);
    if (payload) buf.set(payload, t + 8);
    buf.writeUInt16BE(this.udpChecksum(this.pseudo + sum16(buf, t, payload ? t + udpLen : t + 8)), t + 6);
    this.end();
  }

  /**
   * One IPv4 fragment of a UDP datagram with `payloadLen` zero bytes of payload. The first
   * fragment carries the UDP header (checksum over the whole datagram).
   */
  udpFragment(
    tsUs: number,
    e: Endpoints,
    forward: boolean,
    sport: number,
    dport: number,
    payloadLen: number,
    id: number,
    offset: number,
    dataLen: number,
    more: boolean,
  ): void {
    const udpLen = 8 + payloadLen;
    const t = this.begin(tsUs, e, forward, 17, dataLen, [id, offset, more], udpLen);
    if (offset === 0) {
      this.udpHeader(t, sport, dport, udpLen);
      this.buf.writeUInt16BE(this.udpChecksum(this.pseudo + sum16(this.buf, t, t + 8)), t + 6);
    }
    this.end();
  }

  private udpHeader(t: number, sport: number, dport: number, udpLen: number): void {
    const buf = this.buf;
    buf.writeUInt16BE(sport, t);
    buf.writeUInt16BE(dport, t + 2);
    buf.writeUInt16BE(udpLen, t + 4);
  }

  private udpChecksum(sum: number): number {
    const c = fold(sum);
    return c === 0 ? 0xffff : c;
  }

  /** ICMP/ICMPv6 echo request or reply with `payloadLen` zero bytes. */
  icmpEcho(tsUs: number, e: Endpoints, forward: boolean, type: number, id: number, seq: number, payloadLen: number): void {
    const protocol = e.v === 4 ? 1 : 58;
    const t = this.begin(tsUs, e, forward, protocol, 8 + payloadLen);
    const buf = this.buf;
    buf[t] = type;
    buf.writeUInt16BE(id, t + 4);
    buf.writeUInt16BE(seq, t + 6);
    const pseudo = e.v === 6 ? this.pseudo : 0;
    buf.writeUInt16BE(fold(pseudo + sum16(buf, t, t + 8)), t + 2);
    this.end();
  }

  /** ICMP error (e.g. 3/3 port unreachable) quoting the start of the offending packet. */
  icmpError(tsUs: number, e: Endpoints, forward: boolean, type: number, code: number, quote: Uint8Array): void {
    const protocol = e.v === 4 ? 1 : 58;
    const t = this.begin(tsUs, e, forward, protocol, 8 + quote.length);
    const buf = this.buf;
    buf[t] = type;
    buf[t + 1] = code;
    buf.set(quote, t + 8);
    const pseudo = e.v === 6 ? this.pseudo : 0;
    buf.writeUInt16BE(fold(pseudo + sum16(buf, t, t + 8 + quote.length)), t + 2);
    this.end();
  }
}
