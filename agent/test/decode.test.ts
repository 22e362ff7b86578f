/** PacketDecoder: every link type and protocol branch on hand-crafted packets, fields checked exactly. */
import { DECODE_REASONS, DecodedPacket, PacketDecoder, PacketTime, UnsupportedLinkTypeError, decodeReasonKind, isMalformed } from '../src/decode/decoder';
import {
  ah6, buf, ethernet, ext6, fragment6, icmp, ipBytes, ipv4, ipv6, nullLink, sctp, sll, sll2, tcp, udp, type Bytes,
} from './support/packets';

const TS = 1_767_225_600_000_000;
const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;

interface Decoded {
  reason: string;
  p: DecodedPacket;
}

function decodeWith(decoder: PacketDecoder, bytes: Bytes, o: { capLen?: number; wireLen?: number; ts?: number } = {}): Decoded {
  const p = new DecodedPacket();
  const b = buf(bytes);
  const code = decoder.decode(b, 0, o.capLen ?? b.length, o.wireLen ?? b.length, PacketTime.of(o.ts ?? TS), p);
  return { reason: DECODE_REASONS[code], p };
}

function decode(linkType: number, bytes: Bytes, o: { capLen?: number; wireLen?: number; ts?: number } = {}): Decoded {
  return decodeWith(new PacketDecoder(linkType), bytes, o);
}

const addr = (p: DecodedPacket, which: 'src' | 'dst') => Array.from(which === 'src' ? p.srcAddr : p.dstAddr);
const v4 = (text: string) => [...ipBytes(text), ...Array(12).fill(0)];

describe('Ethernet', () => {
  test('IPv4 TCP: addresses, ports, flags, lengths, payload', () => {
    const segment = tcp(51000, 443, 0x18, [1, 2, 3, 4, 5]);
    const frame = ethernet(ipv4('10.0.0.1', '100.64.0.2', 6, segment), ETH_IPV4);
    const { reason, p } = decode(1, frame, { ts: TS + 7 });
    expect(reason).toBe('ok');
    expect(p.tsUs).toBe(TS + 7);
    expect(p.capLen).toBe(frame.length);
    expect(p.wireLen).toBe(frame.length);
    expect(p.ipVersion).toBe(4);
    expect(p.protocol).toBe(6);
    expect(addr(p, 'src')).toEqual(v4('10.0.0.1'));
    expect(addr(p, 'dst')).toEqual(v4('100.64.0.2'));
    expect([p.srcPort, p.dstPort, p.tcpFlags]).toEqual([51000, 443, 0x18]);
    expect(p.ipBytes).toBe(20 + 20 + 5);
    expect(p.hasTransport).toBe(true);
    expect([p.payloadOffset, p.payloadLength]).toEqual([14 + 20 + 20, 5]);
    expect([p.fragmentId, p.fragmentOffset, p.moreFragments]).toEqual([0, 0, false]);
  });

  test('padding to 60 bytes does not count: ipBytes is the IP total length', () => {
    const frame = ethernet(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 0x10)), ETH_IPV4);
    const padded = [...frame, ...Array(60 - frame.length).fill(0)];
    const { reason, p } = decode(1, padded);
    expect(reason).toBe('ok');
    expect(p.ipBytes).toBe(40);
    expect(p.payloadLength).toBe(0);
  });

  test.each([
    ['802.1Q', [[0x8100, 100]]],
    ['802.1ad QinQ', [[0x88a8, 10], [0x8100, 20]]],
    ['legacy 0x9100 QinQ', [[0x9100, 10], [0x8100, 20]]],
  ] as Array<[string, Array<[number, number]>]>)('%s tags are skipped', (_name, tags) => {
    const frame = ethernet(ipv4('10.1.1.1', '10.1.1.2', 17, udp(5353, 53, [9, 9])), ETH_IPV4, tags);
    const { reason, p } = decode(1, frame);
    expect(reason).toBe('ok');
    expect([p.srcPort, p.dstPort, p.payloadOffset, p.payloadLength]).toEqual([5353, 53, 14 + 4 * tags.length + 28, 2]);
  });

  test('a VLAN tag cut by the snap length is truncated_link', () => {
    const frame = ethernet(ipv4('10.1.1.1', '10.1.1.2', 17, udp(1, 2)), ETH_IPV4, [[0x8100, 5]]);
    expect(decode(1, frame, { capLen: 16 }).reason).toBe('truncated_link');
    expect(decode(1, frame, { capLen: 13 }).reason).toBe('truncated_link');
  });

  test.each([
    ['ARP', 0x0806],
    ['LLDP', 0x88cc],
    ['802.3 length field (STP over LLC)', 0x0026],
    ['MPLS', 0x8847],
  ])('%s is non_ip (skipped, not malformed)', (_name, ethertype) => {
    const { reason } = decode(1, ethernet(Array(46).fill(0), ethertype));
    expect(reason).toBe('non_ip');
    expect(isMalformed('non_ip')).toBe(false);
    expect(decodeReasonKind('non_ip')).toBe('skipped');
  });

  test('IPv6 ethertype carrying an IPv4 header is bad_ip_version', () => {
    expect(decode(1, ethernet(ipv4('1.1.1.1', '2.2.2.2', 17, udp(1, 2)), ETH_IPV6)).reason).toBe('bad_ip_version');
  });
});

describe('IPv4', () => {
  const eth = (ip: Bytes) => ethernet(ip, ETH_IPV4);

  test('options: transport found after IHL * 4 bytes', () => {
    const ip = ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1234, 22, 0x02), { options: [0x94, 4, 0, 0, 1, 1, 1, 0] });
    const { reason, p } = decode(1, eth(ip));
    expect(reason).toBe('ok');
    expect([p.srcPort, p.dstPort, p.tcpFlags, p.ipBytes]).toEqual([1234, 22, 0x02, 48]);
  });

  test('header length below 20 is bad_ip_header', () => {
    expect(decode(1, eth(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 2), { ihl: 4 }))).reason).toBe('bad_ip_header');
  });

  test('total length below the header, or beyond the wire length, is bad_ip_length', () => {
    expect(decode(1, eth(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 2), { totalLength: 19 }))).reason).toBe('bad_ip_length');
    expect(decode(1, eth(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 2), { totalLength: 400 }))).reason).toBe('bad_ip_length');
  });

  test('total length 0 (TSO super-packet) falls back to the wire length', () => {
    const frame = eth(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 0x10, Array(100).fill(7)), { totalLength: 0 }));
    const { reason, p } = decode(1, frame, { capLen: 80, wireLen: 9014 });
    expect(reason).toBe('ok');
    expect(p.ipBytes).toBe(9000);
    expect(p.payloadLength).toBe(80 - 54);
  });

  test('snap length cutting the IP header is truncated_ip; cutting options too', () => {
    const frame = eth(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 2), { options: [1, 1, 1, 1] }));
    expect(decode(1, frame, { capLen: 30 }).reason).toBe('truncated_ip');
    expect(decode(1, frame, { capLen: 36 }).reason).toBe('truncated_ip');
  });

  test('ipBytes comes from the header, not the capture length', () => {
    const frame = eth(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 0x10, Array(1400).fill(1))));
    const { reason, p } = decode(1, frame, { capLen: 96 });
    expect(reason).toBe('ok');
    expect(p.ipBytes).toBe(1440);
    expect([p.payloadOffset, p.payloadLength]).toEqual([54, 96 - 54]);
  });

  test('unknown protocols decode with the number only', () => {
    const { reason, p } = decode(1, eth(ipv4('10.0.0.1', '10.0.0.2', 47, [0, 0, 0x08, 0, 1, 2, 3, 4])));
    expect(reason).toBe('ok');
    expect([p.protocol, p.hasTransport, p.srcPort, p.dstPort, p.payloadOffset, p.payloadLength]).toEqual([47, false, 0, 0, 34, 8]);
  });
});

describe('TCP / UDP / ICMP / SCTP', () => {
  const eth4 = (protocol: number, l4: Bytes) => ethernet(ipv4('192.0.2.1', '198.51.100.2', protocol, l4), ETH_IPV4);

  test('TCP data offset with options sets the payload start', () => {
    const { p } = decode(1, eth4(6, tcp(80, 40000, 0x12, [1, 2, 3], 8)));
    expect([p.payloadOffset, p.payloadLength]).toEqual([34 + 32, 3]);
  });

  test('TCP data offset < 5, or beyond the IP length, is bad_tcp_header', () => {
    expect(decode(1, eth4(6, tcp(80, 1, 2, [], 4))).reason).toBe('bad_tcp_header');
    const segment = tcp(80, 1, 2, []);
    segment[12] = 15 << 4; // 60-byte header in a 20-byte segment
    expect(decode(1, eth4(6, segment)).reason).toBe('bad_tcp_header');
    expect(decode(1, eth4(6, tcp(80, 1, 2).slice(0, 12))).reason).toBe('bad_tcp_header');
  });

  test('TCP header cut by the snap length is truncated_transport', () => {
    expect(decode(1, eth4(6, tcp(80, 1, 2)), { capLen: 34 + 14 }).reason).toBe('truncated_transport');
  });

  test('UDP: payload bounded by the UDP length; bad lengths are bad_udp_header', () => {
    const { p } = decode(1, eth4(17, udp(53, 33000, [1, 2, 3, 4, 5, 6])));
    expect([p.srcPort, p.dstPort, p.payloadOffset, p.payloadLength]).toEqual([53, 33000, 42, 6]);
    expect(decode(1, eth4(17, udp(53, 1, [1, 2], 7))).reason).toBe('bad_udp_header');
    expect(decode(1, eth4(17, udp(53, 1, [1, 2], 40))).reason).toBe('bad_udp_header');
    expect(decode(1, eth4(17, [0, 53, 0])).reason).toBe('bad_udp_header');
    expect(decode(1, eth4(17, udp(53, 1, [1, 2])), { capLen: 38 }).reason).toBe('truncated_transport');
  });

  test('ICMP echo request/reply carry the identifier; errors carry type and code', () => {
    const echo = decode(1, eth4(1, icmp(8, 0, [0x12, 0x34, 0, 1], Array(56).fill(0)))).p;
    expect([echo.protocol, echo.icmpType, echo.icmpCode, echo.icmpId, echo.hasTransport, echo.srcPort, echo.dstPort]).toEqual([1, 8, 0, 0x1234, true, 0, 0]);
    expect(decode(1, eth4(1, icmp(0, 0, [0xab, 0xcd, 0, 1]))).p.icmpId).toBe(0xabcd);
    const unreachable = decode(1, eth4(1, icmp(3, 3, [0, 0, 0, 0], Array(28).fill(0)))).p;
    expect([unreachable.icmpType, unreachable.icmpCode, unreachable.icmpId, unreachable.payloadOffset]).toEqual([3, 3, 0, 42]);
  });

  test('ICMP shorter than its header is bad_icmp_header or truncated_transport', () => {
    expect(decode(1, eth4(1, [8, 0, 0])).reason).toBe('bad_icmp_header');
    expect(decode(1, eth4(1, [8, 0, 0, 0, 1])).reason).toBe('bad_icmp_header'); // echo needs 8 bytes
    expect(decode(1, eth4(1, icmp(8, 0, [0, 1, 0, 1])), { capLen: 34 + 6 }).reason).toBe('truncated_transport');
  });

  test('SCTP ports; short SCTP header is bad_sctp_header', () => {
    const { reason, p } = decode(1, eth4(132, sctp(3868, 3869)));
    expect(reason).toBe('ok');
    expect([p.srcPort, p.dstPort, p.hasTransport, p.payloadOffset]).toEqual([3868, 3869, true, 46]);
    expect(decode(1, eth4(132, sctp(1, 2).slice(0, 8))).reason).toBe('bad_sctp_header');
  });

  test('every field is reset between packets', () => {
    const decoder = new PacketDecoder(1);
    const p = new DecodedPacket();
    const a = buf(ethernet(ipv6('2001:db8::1', '2001:db8::2', 6, tcp(1000, 2000, 0x1f, [1, 2])), ETH_IPV6));
    decoder.decode(a, 0, a.length, a.length, PacketTime.of(TS), p);
    const b = buf(eth4(1, icmp(3, 1)));
    expect(decoder.decode(b, 0, b.length, b.length, PacketTime.of(TS + 1), p)).toBe(0);
    expect([p.ipVersion, p.srcPort, p.dstPort, p.tcpFlags, p.icmpId, p.icmpType, p.icmpCode]).toEqual([4, 0, 0, 0, 0, 3, 1]);
    expect(Array.from(p.srcAddr.subarray(4))).toEqual(Array(12).fill(0));
  });
});

describe('IPv6', () => {
  const eth6 = (ip: Bytes) => ethernet(ip, ETH_IPV6);
  const S = '2001:db8:1::1';
  const D = 'fd7a:115c:a1e0::2';

  test('UDP: addresses, ipBytes = 40 + payload length', () => {
    const { reason, p } = decode(1, eth6(ipv6(S, D, 17, udp(5000, 53, [1, 2, 3]))));
    expect(reason).toBe('ok');
    expect(p.ipVersion).toBe(6);
    expect(addr(p, 'src')).toEqual(ipBytes(S));
    expect(addr(p, 'dst')).toEqual(ipBytes(D));
    expect([p.protocol, p.srcPort, p.dstPort, p.ipBytes, p.payloadOffset, p.payloadLength]).toEqual([17, 5000, 53, 51, 62, 3]);
  });

  test('hop-by-hop, routing, destination options and AH are walked to the transport', () => {
    const chain = [...ext6(43), ...ext6(51, 16), ...ah6(60), ...ext6(6), ...tcp(22, 50000, 0x11)];
    const { reason, p } = decode(1, eth6(ipv6(S, D, 0, chain)));
    expect(reason).toBe('ok');
    expect([p.protocol, p.srcPort, p.dstPort, p.tcpFlags, p.ipBytes]).toEqual([6, 22, 50000, 0x11, 40 + 8 + 16 + 24 + 8 + 20]);
    expect(p.payloadOffset).toBe(14 + 40 + 56 + 20);
  });

  test('ESP and no-next-header stop the walk: protocol recorded, no ports', () => {
    const esp = decode(1, eth6(ipv6(S, D, 0, [...ext6(50), ...Array(24).fill(0xaa)]))).p;
    expect([esp.protocol, esp.hasTransport, esp.srcPort]).toEqual([50, false, 0]);
    const none = decode(1, eth6(ipv6(S, D, 60, ext6(59)))).p;
    expect([none.protocol, none.hasTransport, none.payloadLength]).toEqual([59, false, 0]);
  });

  test('ICMPv6 echo carries the identifier', () => {
    const { p } = decode(1, eth6(ipv6(S, D, 58, icmp(128, 0, [0x0b, 0xad, 0, 7], Array(16).fill(0)))));
    expect([p.protocol, p.icmpType, p.icmpCode, p.icmpId]).toEqual([58, 128, 0, 0x0bad]);
    expect(decode(1, eth6(ipv6(S, D, 58, icmp(129, 0, [0, 9, 0, 7])))).p.icmpId).toBe(9);
    expect(decode(1, eth6(ipv6(S, D, 58, icmp(1, 4)))).p.icmpId).toBe(0);
  });

  test('extension header beyond the packet or capture is ipv6_ext_truncated', () => {
    expect(decode(1, eth6(ipv6(S, D, 0, [17, 0, 1, 4]))).reason).toBe('ipv6_ext_truncated');
    expect(decode(1, eth6(ipv6(S, D, 0, [17, 3, 1, 4, 0, 0, 0, 0]))).reason).toBe('ipv6_ext_truncated');
    expect(decode(1, eth6(ipv6(S, D, 0, [...ext6(17), ...udp(1, 2)])), { capLen: 14 + 44 }).reason).toBe('ipv6_ext_truncated');
  });

  test('more than 16 extension headers is bad_ipv6_ext', () => {
    const chain = [...Array(17)].flatMap(() => ext6(60));
    chain[17 * 8 - 8] = 17;
    expect(decode(1, eth6(ipv6(S, D, 60, [...chain, ...udp(1, 2)]))).reason).toBe('bad_ipv6_ext');
  });

  test('jumbogram (payload length 0) uses the wire length; payload longer than the wire is bad_ip_length', () => {
    const { p } = decode(1, eth6(ipv6(S, D, 0, [...ext6(6), ...tcp(1, 2, 0x10)], 0)), { capLen: 100, wireLen: 70014 });
    expect(p.ipBytes).toBe(70000);
    expect(decode(1, eth6(ipv6(S, D, 17, udp(1, 2), 100))).reason).toBe('bad_ip_length');
  });

  test('a cut IPv6 header is truncated_ip; an IPv4 version nibble is bad_ip_version', () => {
    expect(decode(1, eth6(ipv6(S, D, 17, udp(1, 2))), { capLen: 14 + 39 }).reason).toBe('truncated_ip');
    const wrong = ipv6(S, D, 17, udp(1, 2));
    wrong[0] = 0x45;
    expect(decode(1, eth6(wrong)).reason).toBe('bad_ip_version');
  });
});

describe('fragments', () => {
  test('IPv4: later fragments inherit the first fragment ports; unknown datagram is fragment_orphan', () => {
    const decoder = new PacketDecoder(1);
    const datagram = udp(40000, 4789, Array(2000).fill(0));
    const first = ethernet(ipv4('10.0.0.1', '10.0.0.2', 17, datagram.slice(0, 1480), { id: 77, moreFragments: true }), ETH_IPV4);
    const second = ethernet(ipv4('10.0.0.1', '10.0.0.2', 17, datagram.slice(1480), { id: 77, fragmentOffset: 1480 }), ETH_IPV4);
    const stray = ethernet(ipv4('10.0.0.1', '10.0.0.2', 17, datagram.slice(1480), { id: 78, fragmentOffset: 1480 }), ETH_IPV4);

    const a = decodeWith(decoder, first);
    expect(a.reason).toBe('ok');
    expect([a.p.srcPort, a.p.dstPort, a.p.hasTransport, a.p.fragmentId, a.p.fragmentOffset, a.p.moreFragments, a.p.ipBytes]).toEqual([40000, 4789, true, 77, 0, true, 1500]);
    const b = decodeWith(decoder, second, { ts: TS + 50 });
    expect(b.reason).toBe('ok');
    expect([b.p.srcPort, b.p.dstPort, b.p.hasTransport, b.p.tcpFlags, b.p.fragmentId, b.p.fragmentOffset, b.p.moreFragments]).toEqual([40000, 4789, true, 0, 77, 1480, false]);
    expect([b.p.ipBytes, b.p.payloadOffset, b.p.payloadLength]).toEqual([20 + 2008 - 1480, 34, 0]);
    expect(decodeWith(decoder, stray).reason).toBe('fragment_orphan');
    expect(isMalformed('fragment_orphan')).toBe(false);
  });

  test('IPv4 TCP first fragment keeps its flags; later fragments have flags 0', () => {
    const decoder = new PacketDecoder(12);
    const segment = tcp(1000, 80, 0x18, Array(100).fill(1));
    expect(decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 6, segment.slice(0, 64), { id: 5, moreFragments: true })).p.tcpFlags).toBe(0x18);
    const later = decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 6, segment.slice(64), { id: 5, fragmentOffset: 64 })).p;
    expect([later.srcPort, later.dstPort, later.tcpFlags, later.hasTransport]).toEqual([1000, 80, 0, true]);
  });

  test('ICMP fragments inherit type, code and echo id', () => {
    const decoder = new PacketDecoder(12);
    const echo = icmp(8, 0, [0x44, 0x55, 0, 1], Array(3000).fill(0));
    decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 1, echo.slice(0, 1480), { id: 9, moreFragments: true }));
    const later = decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 1, echo.slice(1480, 2960), { id: 9, fragmentOffset: 1480, moreFragments: true })).p;
    expect([later.icmpType, later.icmpCode, later.icmpId, later.hasTransport]).toEqual([8, 0, 0x4455, true]);
  });

  test('later fragments of port-less protocols need no first fragment', () => {
    const { reason, p } = decode(12, ipv4('10.0.0.1', '10.0.0.2', 47, Array(40).fill(0), { id: 3, fragmentOffset: 1480 }));
    expect(reason).toBe('ok');
    expect([p.protocol, p.hasTransport]).toEqual([47, false]);
  });

  test('the first fragment is forgotten after 30 s', () => {
    const decoder = new PacketDecoder(12);
    decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2, Array(100).fill(0)).slice(0, 64), { id: 4, moreFragments: true }));
    expect(decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 17, Array(44).fill(0), { id: 4, fragmentOffset: 64 }), { ts: TS + 31_000_000 }).reason).toBe('fragment_orphan');
  });

  test('the table is bounded: thousands of open datagrams evict the oldest, never grow', () => {
    const decoder = new PacketDecoder(12, { fragments: { size: 64 } });
    for (let id = 0; id < 2000; id++) {
      decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2, Array(40).fill(0)).slice(0, 16), { id, moreFragments: true }));
    }
    expect(decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 17, Array(32).fill(0), { id: 1999, fragmentOffset: 16 })).reason).toBe('ok');
    expect(decodeWith(decoder, ipv4('10.0.0.1', '10.0.0.2', 17, Array(32).fill(0), { id: 0, fragmentOffset: 16 })).reason).toBe('fragment_orphan');
  });

  test('IPv6 fragment header: first fragment remembered, later ones get its ports', () => {
    const decoder = new PacketDecoder(229);
    const S = '2001:db8::a';
    const D = '2001:db8::b';
    const datagram = udp(6000, 7000, Array(100).fill(0));
    const first = decodeWith(decoder, ipv6(S, D, 44, [...fragment6(17, 0, true, 0xdeadbeef), ...datagram.slice(0, 56)])).p;
    expect([first.srcPort, first.dstPort, first.fragmentId, first.moreFragments]).toEqual([6000, 7000, 0xdeadbeef, true]);
    const later = decodeWith(decoder, ipv6(S, D, 0, [...ext6(44), ...fragment6(17, 56, false, 0xdeadbeef), ...datagram.slice(56)]));
    expect(later.reason).toBe('ok');
    expect([later.p.protocol, later.p.srcPort, later.p.dstPort, later.p.fragmentOffset, later.p.hasTransport]).toEqual([17, 6000, 7000, 56, true]);
    expect(decodeWith(decoder, ipv6(S, D, 44, [...fragment6(17, 56, false, 1), ...datagram.slice(56)])).reason).toBe('fragment_orphan');
  });
});

describe('link types', () => {
  const ip4 = ipv4('100.64.0.1', '100.64.0.2', 17, udp(41641, 41641, [1]));
  const ip6 = ipv6('fd7a:115c:a1e0::1', 'fd7a:115c:a1e0::2', 17, udp(41641, 41641, [1]));

  test.each([
    ['NULL little-endian AF_INET', 0, nullLink(ip4, 2), 4],
    ['NULL big-endian AF_INET', 0, nullLink(ip4, 2, true), 4],
    ['LOOP network-order AF_INET', 108, nullLink(ip4, 2, true), 4],
    ['NULL AF_INET6 24 (NetBSD/OpenBSD)', 0, nullLink(ip6, 24), 6],
    ['NULL AF_INET6 28 (FreeBSD)', 0, nullLink(ip6, 28), 6],
    ['LOOP AF_INET6 30 (macOS), big-endian', 108, nullLink(ip6, 30, true), 6],
    ['RAW 12 IPv4', 12, ip4, 4],
    ['RAW 14 IPv6', 14, ip6, 6],
    ['RAW 101 IPv6', 101, ip6, 6],
    ['IPV4 228', 228, ip4, 4],
    ['IPV6 229', 229, ip6, 6],
    ['LINUX_SLL IPv4', 113, sll(ip4, 0x0800), 4],
    ['LINUX_SLL IPv6 behind a VLAN tag', 113, sll([0, 5, 0x86, 0xdd, ...ip6], 0x8100), 6],
    ['LINUX_SLL2 IPv6', 276, sll2(ip6, 0x86dd), 6],
    ['LINUX_SLL2 IPv4', 276, sll2(ip4, 0x0800), 4],
  ] as Array<[string, number, Bytes, 4 | 6]>)('%s', (_name, linkType, frame, version) => {
    const { reason, p } = decode(linkType, frame);
    expect(reason).toBe('ok');
    expect([p.ipVersion, p.protocol, p.srcPort, p.dstPort, p.payloadLength]).toEqual([version, 17, 41641, 41641, 1]);
    expect(p.payloadOffset + p.payloadLength).toBe(frame.length);
  });

  test('NULL with another address family is non_ip; shorter than 4 bytes is truncated_link', () => {
    expect(decode(0, nullLink(ip4, 7)).reason).toBe('non_ip');
    expect(decode(0, [2, 0, 0]).reason).toBe('truncated_link');
  });

  test('raw link: the version nibble decides; 228 and 229 insist on their version', () => {
    expect(decode(101, [0x50, ...ip4.slice(1)]).reason).toBe('bad_ip_version');
    expect(decode(228, ip6).reason).toBe('bad_ip_version');
    expect(decode(229, ip4).reason).toBe('bad_ip_version');
    expect(decode(12, []).reason).toBe('truncated_ip');
  });

  test('SLL: ARP is non_ip; header shorter than 16 / 20 bytes is truncated_link', () => {
    expect(decode(113, sll(Array(28).fill(0), 0x0806)).reason).toBe('non_ip');
    expect(decode(113, sll(ip4, 0x0800).slice(0, 15)).reason).toBe('truncated_link');
    expect(decode(276, sll2(ip4, 0x0800).slice(0, 19)).reason).toBe('truncated_link');
    expect(decode(276, sll2(Array(28).fill(0), 0x0806)).reason).toBe('non_ip');
  });

  test('an unsupported link type throws, naming its number and name', () => {
    expect(() => new PacketDecoder(127)).toThrow(UnsupportedLinkTypeError);
    expect(() => new PacketDecoder(127)).toThrow(/unsupported link type IEEE802_11_RADIOTAP \(127\)/);
    expect(() => new PacketDecoder(4242)).toThrow(/unsupported link type link type 4242/);
  });
});

describe('stats', () => {
  test('every packet is counted under exactly one reason', () => {
    const decoder = new PacketDecoder(1);
    const frames = [
      ethernet(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 2)), ETH_IPV4),
      ethernet(Array(46).fill(0), 0x0806),
      ethernet(Array(46).fill(0), 0x0806),
      ethernet(ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, 2, [], 4)), ETH_IPV4),
      [1, 2, 3],
    ];
    for (const f of frames) decodeWith(decoder, f);
    expect(decoder.stats.total()).toBe(5);
    expect(decoder.stats.count('ok')).toBe(1);
    expect(decoder.stats.count('non_ip')).toBe(2);
    expect(decoder.stats.count('bad_tcp_header')).toBe(1);
    expect(decoder.stats.count('truncated_link')).toBe(1);
    expect(decoder.stats.malformed()).toBe(2);
    const byReason = decoder.stats.byReason();
    expect(Object.keys(byReason)).toEqual([...DECODE_REASONS]);
    expect(Object.values(byReason).reduce((a, b) => a + b, 0)).toBe(5);
  });

  test('a capture length larger than the buffer is clamped, not read past', () => {
    const frame = buf(ethernet(ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 2, [1, 2])), ETH_IPV4));
    const p = new DecodedPacket();
    expect(new PacketDecoder(1).decode(frame, 0, 9999, 9999, PacketTime.of(TS), p)).toBe(0);
    expect(p.capLen).toBe(frame.length);
  });
});
