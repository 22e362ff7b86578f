/**
 * The two DNS header fields the flow table needs to time a query: the message id and the
 * QR bit of a UDP datagram to or from port 53. Read per packet, so it only compares ports
 * and reads three bytes (no parsing, no allocation).
 */
import type { DecodedPacket } from '../decode/packet';
import { PROTO_UDP } from '../flow/protocols';

const DNS_PORT = 53;
const DNS_HEADER_BYTES = 12;

/** Sets p.dnsId (-1 when the packet is not a DNS message over UDP) and p.dnsResponse. */
export function readDnsHeader(p: DecodedPacket, buf: Uint8Array): void {
  if (
    p.protocol !== PROTO_UDP || (p.srcPort !== DNS_PORT && p.dstPort !== DNS_PORT) ||
    p.payloadLength < DNS_HEADER_BYTES || p.fragmentOffset !== 0 || !p.hasTransport
  ) {
    p.dnsId = -1;
    return;
  }
  const at = p.payloadOffset;
  p.dnsId = (buf[at] << 8) | buf[at + 1];
  p.dnsResponse = (buf[at + 2] & 0x80) !== 0;
}
