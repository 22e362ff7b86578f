/**
 * Decoder fuzz: for every supported link type, thousands of valid, mutated (truncated,
 * flipped, bad length fields, spliced) and random packets. No exception escapes, every
 * packet is counted under exactly one reason, decoded fields stay inside the captured
 * bytes, and bytes beyond capLen are never read (same result with garbage after capLen).
 */
import { DECODE_REASONS, DecodedPacket, PacketDecoder, PacketTime } from '../src/decode/decoder';
import { Prng } from '../src/synth/prng';
import { ah6, ethernet, ext6, fragment6, icmp, ipv4, ipv6, nullLink, sctp, sll, sll2, tcp, udp, type Bytes } from './support/packets';

const PACKETS_PER_LINK = 3000;
const LINK_TYPES = [1, 0, 108, 12, 14, 101, 228, 229, 113, 276];

function ipPackets(): Array<{ v: 4 | 6; bytes: Bytes }> {
  const S6 = '2001:db8::1';
  const D6 = 'fd7a:115c:a1e0::9';
  const big = udp(3000, 4000, Array(2000).fill(0));
  return [
    { v: 4, bytes: ipv4('10.0.0.1', '100.64.0.2', 6, tcp(50000, 443, 0x18, Array(64).fill(0x41))) },
    { v: 4, bytes: ipv4('10.0.0.1', '1.1.1.1', 17, udp(40000, 53, Array(40).fill(3))) },
    { v: 4, bytes: ipv4('10.0.0.1', '10.0.0.2', 1, icmp(8, 0, [1, 2, 0, 1], Array(56).fill(0))) },
    { v: 4, bytes: ipv4('10.0.0.1', '10.0.0.2', 1, icmp(3, 3, [0, 0, 0, 0], Array(28).fill(0))) },
    { v: 4, bytes: ipv4('10.0.0.1', '10.0.0.2', 17, big.slice(0, 1480), { id: 99, moreFragments: true }) },
    { v: 4, bytes: ipv4('10.0.0.1', '10.0.0.2', 17, big.slice(1480), { id: 99, fragmentOffset: 1480 }) },
    { v: 4, bytes: ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 2), { options: [1, 1, 1, 0] }) },
    { v: 4, bytes: ipv4('10.0.0.1', '10.0.0.2', 132, sctp(1, 2)) },
    { v: 4, bytes: ipv4('10.0.0.1', '10.0.0.2', 47, Array(24).fill(5)) },
    { v: 6, bytes: ipv6(S6, D6, 17, udp(5353, 53, Array(30).fill(1))) },
    { v: 6, bytes: ipv6(S6, D6, 0, [...ext6(43), ...ext6(51, 16), ...ah6(60), ...ext6(6), ...tcp(22, 5555, 0x12)]) },
    { v: 6, bytes: ipv6(S6, D6, 44, [...fragment6(17, 0, true, 7), ...big.slice(0, 64)]) },
    { v: 6, bytes: ipv6(S6, D6, 44, [...fragment6(17, 64, false, 7), ...big.slice(64, 200)]) },
    { v: 6, bytes: ipv6(S6, D6, 58, icmp(128, 0, [0, 5, 0, 1], Array(16).fill(0))) },
    { v: 6, bytes: ipv6(S6, D6, 50, Array(40).fill(0xee)) },
  ];
}

function frame(linkType: number, ip: { v: 4 | 6; bytes: Bytes }, rng: Prng): Bytes {
  const ethertype = ip.v === 4 ? 0x0800 : 0x86dd;
  switch (linkType) {
    case 1: {
      const tags: Array<[number, number]> = [];
      for (let n = rng.int(0, 2); n > 0; n--) tags.push([rng.pick([0x8100, 0x88a8, 0x9100]), rng.int(1, 4094)]);
      return rng.chance(0.1) ? ethernet(Array(46).fill(0), 0x0806) : ethernet(ip.bytes, ethertype, tags);
    }
    case 0:
    case 108:
      return nullLink(ip.bytes, ip.v === 4 ? 2 : rng.pick([24, 28, 30]), rng.chance(0.5));
    case 113:
      return sll(ip.bytes, ethertype);
    case 276:
      return sll2(ip.bytes, ethertype);
    case 228:
    case 229:
      return ip.bytes;
    default:
      return ip.bytes;
  }
}

function mutate(bytes: Bytes, rng: Prng): Bytes {
  const out = bytes.slice();
  switch (rng.int(0, 5)) {
    case 0: // truncate
      return out.slice(0, rng.int(0, out.length));
    case 1: // flip a few bytes
      for (let n = rng.int(1, 8); n > 0 && out.length; n--) out[rng.int(0, out.length - 1)] = rng.int(0, 255);
      return out;
    case 2: {
      // extreme value in a 16-bit field (lengths, offsets, ethertypes)
      if (out.length < 2) return out;
      const at = rng.int(0, out.length - 2);
      const value = rng.pick([0, 1, 7, 8, 19, 20, 40, 0x7fff, 0xffff, rng.int(0, 0xffff)]);
      out[at] = value >> 8;
      out[at + 1] = value & 0xff;
      return out;
    }
    case 3: // header-length nibbles
      for (let n = rng.int(1, 3); n > 0 && out.length; n--) {
        const at = rng.int(0, Math.min(out.length - 1, 80));
        out[at] = (out[at] & 0xf0) | rng.int(0, 15);
      }
      return out;
    case 4: // splice: delete or insert a run
      if (rng.chance(0.5) && out.length > 4) out.splice(rng.int(0, out.length - 2), rng.int(1, 16));
      else out.splice(rng.int(0, out.length), 0, ...Array.from({ length: rng.int(1, 16) }, () => rng.int(0, 255)));
      return out;
    default: // random bytes
      return Array.from({ length: rng.int(0, 120) }, () => rng.int(0, 255));
  }
}

function snapshot(reason: number, p: DecodedPacket): string {
  return JSON.stringify([
    reason, p.capLen, p.wireLen, p.ipVersion, p.protocol, [...p.srcAddr], [...p.dstAddr], p.srcPort, p.dstPort, p.ipBytes,
    p.tcpFlags, p.icmpType, p.icmpCode, p.icmpId, p.fragmentId, p.fragmentOffset, p.moreFragments, p.hasTransport,
    p.payloadOffset, p.payloadLength,
  ]);
}

test.each(LINK_TYPES)('link type %i: random and mutated packets never throw and are all counted', (linkType) => {
  const rng = new Prng(linkType * 7919 + 1);
  const bases = ipPackets();
  const exact = new PacketDecoder(linkType);
  const padded = new PacketDecoder(linkType);
  const a = new DecodedPacket();
  const b = new DecodedPacket();
  const big = Buffer.alloc(4096);
  const seen = new Set<string>();
  for (let i = 0; i < PACKETS_PER_LINK; i++) {
    const valid = frame(linkType, rng.pick(bases), rng);
    const bytes = rng.chance(0.2) ? valid : mutate(valid, rng);
    const exactBuf = Buffer.from(bytes);
    const capLen = bytes.length;
    const wireLen = rng.chance(0.8) ? capLen : rng.chance(0.5) ? capLen + rng.int(1, 3000) : rng.int(0, capLen);
    const ts = PacketTime.of(1_767_225_600_000_000 + i * 1000);
    // the same packet at an offset inside a larger buffer, garbage on both sides (as the file
    // reader hands packets over), must decode identically, its offsets shifted by the start
    const start = rng.int(0, 256);
    for (let k = 0; k < start; k++) big[k] = rng.int(0, 255);
    exactBuf.copy(big, start);
    for (let k = start + capLen; k < start + capLen + 128; k++) big[k] = rng.int(0, 255);

    const r1 = exact.decode(exactBuf, 0, capLen, wireLen, ts, a);
    const r2 = padded.decode(big, start, capLen, wireLen, ts, b);
    if (r2 === 0 || b.payloadOffset !== 0) b.payloadOffset -= start;
    const first = snapshot(r1, a);
    if (first !== snapshot(r2, b)) expect(snapshot(r2, b)).toBe(first);
    seen.add(DECODE_REASONS[r1]);
    if (r1 === 0) {
      const inBounds = a.payloadOffset + a.payloadLength <= capLen && a.payloadLength >= 0;
      const sane = a.ipBytes >= (a.ipVersion === 4 ? 20 : 40) && a.srcPort <= 0xffff && a.dstPort <= 0xffff;
      if (!inBounds || !sane) expect({ packet: bytes, fields: first }).toBe('a decoded packet with fields inside the capture');
    }
  }
  expect([...seen].every((name) => (DECODE_REASONS as readonly string[]).includes(name))).toBe(true);
  expect(exact.stats.total()).toBe(PACKETS_PER_LINK);
  expect(padded.stats.total()).toBe(PACKETS_PER_LINK);
  expect(exact.stats.count('ok')).toBeGreaterThan(PACKETS_PER_LINK * 0.2);
  // mutations must reach the malformed branches, not just ok
  expect(seen.size).toBeGreaterThanOrEqual(6);
});
