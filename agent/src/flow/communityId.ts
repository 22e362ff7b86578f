/**
 * Community ID v1 (https://github.com/corelight/community-id-spec): the standard,
 * direction-independent hash of a flow's 5-tuple that Zeek, Suricata and Elastic compute,
 * so records of one connection from several agents and other tools can be matched.
 * Computed per record (never per packet), so it allocates only the result: SHA-1 runs here
 * over the (at most 40-byte, one-block) input with preallocated scratch, as node:crypto's
 * Hash object, digest buffer and base64 string per call were most of a record's garbage.
 */

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMPV6 = 58;
const PROTO_SCTP = 132;

/** ICMPv4 request/response pairs (the spec's table); every other type is one-way. */
const ICMP4_COUNTERPART: ReadonlyMap<number, number> = new Map([
  [8, 0], [0, 8], // echo
  [13, 14], [14, 13], // timestamp
  [15, 16], [16, 15], // information
  [10, 9], [9, 10], // router solicitation / advertisement
  [17, 18], [18, 17], // address mask
]);

/** ICMPv6 request/response pairs (the spec's table). */
const ICMP6_COUNTERPART: ReadonlyMap<number, number> = new Map([
  [128, 129], [129, 128], // echo
  [133, 134], [134, 133], // router solicitation / advertisement
  [135, 136], [136, 135], // neighbor solicitation / advertisement
  [130, 131], [131, 130], // multicast listener query / report
  [139, 140], [140, 139], // node information query / reply
  [144, 145], [145, 144], // home agent address discovery
]);

/** The counterpart type of an ICMP request/response type, or undefined for one-way types. */
export function icmpCounterpart(protocol: number, type: number): number | undefined {
  return (protocol === PROTO_ICMPV6 ? ICMP6_COUNTERPART : ICMP4_COUNTERPART).get(type);
}

function hasPorts(protocol: number): boolean {
  return protocol === PROTO_TCP || protocol === PROTO_UDP || protocol === PROTO_SCTP ||
    protocol === PROTO_ICMP || protocol === PROTO_ICMPV6;
}

/** Hash input: seed, two 16-byte addresses, protocol, padding, two ports. */
const scratch = new Uint8Array(2 + 16 + 16 + 2 + 4);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/**
 * @param srcAddr/dstAddr 4 (IPv4) or 16 (IPv6) address bytes
 * @param srcPort/dstPort transport ports; for ICMP/ICMPv6 pass the type as srcPort and the
 *        code as dstPort (the spec's convention)
 */
export function communityIdV1(
  protocol: number,
  srcAddr: Uint8Array,
  dstAddr: Uint8Array,
  srcPort: number,
  dstPort: number,
  seed = 0,
): string {
  const sport = srcPort;
  let dport = dstPort;
  let oneWay = false;
  if (protocol === PROTO_ICMP || protocol === PROTO_ICMPV6) {
    const counterpart = icmpCounterpart(protocol, srcPort);
    if (counterpart === undefined) oneWay = true;
    else dport = counterpart;
  }
  let a1 = srcAddr, a2 = dstAddr, p1 = sport, p2 = dport;
  // Order the endpoints so both directions hash alike; one-way ICMP keeps its order.
  const cmp = compareBytes(srcAddr, dstAddr);
  if (!oneWay && (cmp > 0 || (cmp === 0 && sport > dport))) {
    a1 = dstAddr; a2 = srcAddr; p1 = dport; p2 = sport;
  }
  const buf = scratch;
  buf[0] = (seed >>> 8) & 0xff;
  buf[1] = seed & 0xff;
  let o = 2;
  for (let i = 0; i < a1.length; i++) buf[o++] = a1[i];
  for (let i = 0; i < a2.length; i++) buf[o++] = a2[i];
  buf[o++] = protocol;
  buf[o++] = 0;
  if (hasPorts(protocol)) {
    buf[o++] = (p1 >>> 8) & 0xff;
    buf[o++] = p1 & 0xff;
    buf[o++] = (p2 >>> 8) & 0xff;
    buf[o++] = p2 & 0xff;
  }
  return sha1Base64(buf, o);
}

const words = new Int32Array(80);
const digest = new Int32Array(5);
/** "1:" + 28 base64 characters */
const text = Buffer.from('1:' + '='.repeat(28), 'latin1');
const BASE64 = new Uint8Array(Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1'));

/** Message byte `i` of one padded SHA-1 block: the message, 0x80, zeros, the bit length (len <= 55). */
function paddedByte(msg: Uint8Array, len: number, i: number): number {
  if (i < len) return msg[i];
  if (i === len) return 0x80;
  if (i === 62) return (len >>> 5) & 0xff;
  if (i === 63) return (len << 3) & 0xff;
  return 0;
}

/**
 * "1:" + base64(SHA-1(msg[0..len))), for len <= 55 (one block). The four round groups are
 * separate loops (no per-round branch), and the block is read straight from the message.
 */
function sha1Base64(msg: Uint8Array, len: number): string {
  const w = words;
  for (let i = 0; i < 16; i++) {
    const j = i * 4;
    w[i] = (paddedByte(msg, len, j) << 24) | (paddedByte(msg, len, j + 1) << 16) | (paddedByte(msg, len, j + 2) << 8) | paddedByte(msg, len, j + 3);
  }
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = 0x67452301, b = 0xefcdab89 | 0, c = 0x98badcfe | 0, d = 0x10325476, e = 0xc3d2e1f0 | 0;
  let t = 0;
  for (let i = 0; i < 20; i++) {
    t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  for (let i = 20; i < 40; i++) {
    t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  for (let i = 40; i < 60; i++) {
    t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + w[i]) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  for (let i = 60; i < 80; i++) {
    t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + w[i]) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  digest[0] = 0x67452301 + a;
  digest[1] = 0xefcdab89 + b;
  digest[2] = 0x98badcfe + c;
  digest[3] = 0x10325476 + d;
  digest[4] = 0xc3d2e1f0 + e;
  return base64Digest();
}

/** Byte `i` (0..19) of the big-endian digest. */
function digestByte(i: number): number {
  return (digest[i >> 2] >>> (24 - ((i & 3) << 3))) & 0xff;
}

/** The digest in base64 after the "1:" prefix: six groups of three bytes, then two bytes and one pad. */
function base64Digest(): string {
  let o = 2;
  for (let i = 0; i < 18; i += 3) {
    const n = (digestByte(i) << 16) | (digestByte(i + 1) << 8) | digestByte(i + 2);
    text[o++] = BASE64[n >>> 18];
    text[o++] = BASE64[(n >>> 12) & 63];
    text[o++] = BASE64[(n >>> 6) & 63];
    text[o++] = BASE64[n & 63];
  }
  const n = (digestByte(18) << 8) | digestByte(19);
  text[o++] = BASE64[n >>> 10];
  text[o++] = BASE64[(n >>> 4) & 63];
  text[o++] = BASE64[(n << 2) & 63];
  return text.toString('latin1', 0, 32);
}
