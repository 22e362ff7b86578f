/**
 * The decoded view of one packet, shared by the decoder (writer) and the flow table
 * (reader). One instance is allocated per capture and overwritten for every packet:
 * nothing on the per-packet path allocates. Addresses are 16-byte slots; IPv4 uses the
 * first 4 bytes and leaves the rest zero.
 */
/**
 * The capture timestamp of the packet being handed over, epoch microseconds, updated in place
 * by the capture for every packet. An object rather than a number argument: a double passed
 * to a function V8 does not inline is boxed on the heap, one allocation per packet.
 */
export class PacketTime {
  us = 0;

  static of(us: number): PacketTime {
    const time = new PacketTime();
    time.us = us;
    return time;
  }
}

export class DecodedPacket {
  /** Packet timestamp, epoch microseconds (from the capture header, never the wall clock). */
  tsUs = 0;
  /** Length on the wire and captured length from the capture header. */
  wireLen = 0;
  capLen = 0;
  ipVersion: 4 | 6 = 4;
  /** IANA protocol number of the transport (after IPv6 extension headers). */
  protocol = 0;
  readonly srcAddr = new Uint8Array(16);
  readonly dstAddr = new Uint8Array(16);
  srcPort = 0;
  dstPort = 0;
  /** IP-layer length from the IP header (IPv4 total length; IPv6 40 + payload length). */
  ipBytes = 0;
  tcpFlags = 0;
  icmpType = 0;
  icmpCode = 0;
  /** ICMP/ICMPv6 echo identifier (plays the port for echo flows). */
  icmpId = 0;
  /** Fragment handling: non-zero id when the packet is an IP fragment. */
  fragmentId = 0;
  /** Byte offset of this fragment's data (0 for the first fragment). */
  fragmentOffset = 0;
  moreFragments = false;
  /**
   * True when transport fields (ports/flags, ICMP type/code/id) are valid. Later fragments get
   * them from their first fragment (tcpFlags 0, payloadLength 0); a later fragment whose first
   * fragment was never seen is not delivered as decoded (fragment_orphan).
   */
  hasTransport = false;
  /** Where the transport payload starts in the capture buffer and how long it is (captured bytes). */
  payloadOffset = 0;
  payloadLength = 0;
  /**
   * DNS message id of a UDP packet to or from port 53, -1 otherwise; dnsResponse is its QR
   * bit. Filled after decoding by dns/header.ts (the flow table times queries with them).
   */
  dnsId = -1;
  dnsResponse = false;
}
