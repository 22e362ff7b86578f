/**
 * Community ID v1 (https://github.com/corelight/community-id-spec): the standard,
 * direction-independent hash of a flow's 5-tuple that Zeek, Suricata and Elastic compute,
 * so records of one connection from several agents and other tools can be matched.
 * Computed once per flow (never per packet).
 */
import { createHash } from 'node:crypto';

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
  return '1:' + createHash('sha1').update(buf.subarray(0, o)).digest('base64');
}
