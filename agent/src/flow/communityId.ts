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
const scratch = Buffer.alloc(2 + 16 + 16 + 2 + 4);

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
  const withPorts = hasPorts(protocol);
  const buf = scratch;
  let o = buf.writeUInt16BE(seed & 0xffff, 0);
  buf.set(a1, o); o += a1.length;
  buf.set(a2, o); o += a2.length;
  buf[o++] = protocol;
  buf[o++] = 0;
  if (withPorts) {
    o = buf.writeUInt16BE(p1 & 0xffff, o);
    o = buf.writeUInt16BE(p2 & 0xffff, o);
  }
  return sha1Base64('1:', buf, o);
}

const BLOCK_BYTES = 64;
/** one SHA-1 block: the message, 0x80, zeros, the bit length */
const block = new Uint8Array(BLOCK_BYTES);
const words = new Int32Array(80);
const digest = new Uint8Array(20);
/** prefix + 28 base64 characters */
const text = Buffer.alloc(32);
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function putWord(at: number, value: number): void {
  const v = value | 0;
  digest[at] = v >>> 24;
  digest[at + 1] = (v >>> 16) & 0xff;
  digest[at + 2] = (v >>> 8) & 0xff;
  digest[at + 3] = v & 0xff;
}

/** `prefix` + base64(SHA-1(msg[0..len))), for len <= 55 (one block). */
function sha1Base64(prefix: string, msg: Uint8Array, len: number): string {
  block.fill(0);
  block.set(msg.subarray(0, len));
  block[len] = 0x80;
  const bits = len * 8;
  block[62] = bits >>> 8;
  block[63] = bits & 0xff;
  const w = words;
  for (let i = 0; i < 16; i++) {
    w[i] = (block[i * 4] << 24) | (block[i * 4 + 1] << 16) | (block[i * 4 + 2] << 8) | block[i * 4 + 3];
  }
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = 0x67452301, b = 0xefcdab89 | 0, c = 0x98badcfe | 0, d = 0x10325476, e = 0xc3d2e1f0 | 0;
  for (let i = 0; i < 80; i++) {
    let f: number, k: number;
    if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
    else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
    else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc | 0; }
    else { f = b ^ c ^ d; k = 0xca62c1d6 | 0; }
    const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  putWord(0, 0x67452301 + a);
  putWord(4, 0xefcdab89 + b);
  putWord(8, 0x98badcfe + c);
  putWord(12, 0x10325476 + d);
  putWord(16, 0xc3d2e1f0 + e);
  let o = text.write(prefix, 0, 'latin1');
  for (let i = 0; i < 18; i += 3) {
    const n = (digest[i] << 16) | (digest[i + 1] << 8) | digest[i + 2];
    text[o++] = BASE64.charCodeAt(n >>> 18);
    text[o++] = BASE64.charCodeAt((n >>> 12) & 63);
    text[o++] = BASE64.charCodeAt((n >>> 6) & 63);
    text[o++] = BASE64.charCodeAt(n & 63);
  }
  // 20 = 18 + 2 bytes: three characters and one pad
  const n = (digest[18] << 8) | digest[19];
  text[o++] = BASE64.charCodeAt(n >>> 10);
  text[o++] = BASE64.charCodeAt((n >>> 4) & 63);
  text[o++] = BASE64.charCodeAt((n << 2) & 63);
  text[o++] = 0x3d;
  return text.toString('latin1', 0, o);
}
