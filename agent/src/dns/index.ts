/**
 * DNS annotation: watches DNS responses in the packet stream (UDP from port 53, and TCP
 * from port 53 when the whole message sits in one segment) and remembers which domains each
 * answered address was resolved from and when, so a flow to that address carries the name
 * answered before it started (dst_domain).
 * Malformed messages are counted, never thrown.
 */
import type { DecodedPacket } from '../decode/packet';
import { PROTO_TCP, PROTO_UDP } from '../flow/protocols';
import { DnsCache, type DnsCacheOptions } from './cache';
import { DNS_MALFORMED, DNS_OK, parseDnsResponse } from './parse';

export { DnsCache, DEFAULT_DNS_CACHE, type DnsCacheOptions } from './cache';
export { readDnsHeader } from './header';
export { parseDnsResponse, DNS_OK, DNS_MALFORMED, DNS_NOT_RESPONSE } from './parse';

export interface DnsStats {
  responses: number;
  malformed: number;
  addresses: number;
}

const DNS_PORT = 53;

export class DnsObserver {
  readonly cache: DnsCache;
  readonly stats: DnsStats = { responses: 0, malformed: 0, addresses: 0 };
  private nowUs = 0;
  private readonly remember = (address: string, domain: string, ttlS: number): void => {
    this.stats.addresses++;
    this.cache.set(address, domain, ttlS, this.nowUs);
  };

  constructor(options: Partial<DnsCacheOptions> = {}) {
    this.cache = new DnsCache(options);
  }

  /** Looks at one decoded packet (cheap port test first; only DNS responses are parsed). */
  observe(p: DecodedPacket, buf: Uint8Array): void {
    // (a fragmented response's first fragment holds only part of the message: not parsed)
    if (p.srcPort !== DNS_PORT || p.payloadLength === 0 || p.moreFragments) return;
    let offset = p.payloadOffset;
    let length = p.payloadLength;
    if (p.protocol === PROTO_TCP) {
      if (length < 2) return;
      const messageLength = (buf[offset] << 8) | buf[offset + 1];
      if (messageLength + 2 > length) return; // spread over several segments: not reassembled
      offset += 2;
      length = messageLength;
    } else if (p.protocol !== PROTO_UDP) {
      return;
    }
    this.nowUs = p.tsUs;
    const result = parseDnsResponse(buf, offset, length, this.remember);
    if (result === DNS_OK) this.stats.responses++;
    else if (result === DNS_MALFORMED) this.stats.malformed++;
  }

  /** The name `address` was resolved from at `atUs` (see DnsCache.get). */
  domain(address: string, atUs: number): string {
    return this.cache.get(address, atUs);
  }
}
