/**
 * DNS response parsing for flow annotation: extracts A/AAAA answers and reports each address
 * with the name that was asked for (following CNAME chains back to the question). Every
 * read is bounds-checked; compression pointers may only point backwards and are capped, so
 * loops and hostile messages end as "malformed", never as an exception.
 */
import { formatIp } from '../flow/addresses';

export const DNS_OK = 0;
export const DNS_NOT_RESPONSE = 1;
export const DNS_MALFORMED = 2;

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const MAX_NAME_LENGTH = 255;
const MAX_POINTER_JUMPS = 32;
const MAX_RECORDS = 256;
const MAX_CNAME_HOPS = 16;

/** Receives each answered address with the queried domain and the record's TTL (seconds). */
export type DnsAddressCallback = (address: string, domain: string, ttlS: number) => void;

class Malformed extends Error {}

/** Reads a (possibly compressed) name starting at `pos`; returns [name, position after it]. */
function readName(msg: Uint8Array, start: number, end: number, pos: number): [string, number] {
  const labels: string[] = [];
  let length = 0;
  let jumps = 0;
  let after = -1;
  let lowest = pos; // pointers must go strictly backwards from every label seen
  while (true) {
    if (pos >= end) throw new Malformed();
    const len = msg[pos];
    if (len === 0) {
      pos += 1;
      break;
    }
    const tag = len & 0xc0;
    if (tag === 0xc0) {
      if (pos + 1 >= end) throw new Malformed();
      const target = start + (((len & 0x3f) << 8) | msg[pos + 1]);
      if (after < 0) after = pos + 2;
      if (++jumps > MAX_POINTER_JUMPS || target >= lowest) throw new Malformed();
      pos = lowest = target;
      continue;
    }
    if (tag !== 0) throw new Malformed(); // extended label types are obsolete
    if (pos + 1 + len > end) throw new Malformed();
    length += len + 1;
    if (length > MAX_NAME_LENGTH) throw new Malformed();
    let label = '';
    for (let i = pos + 1; i <= pos + len; i++) label += String.fromCharCode(msg[i]);
    labels.push(label.toLowerCase());
    pos += 1 + len;
  }
  return [labels.join('.'), after >= 0 ? after : pos];
}

const u16 = (m: Uint8Array, p: number) => (m[p] << 8) | m[p + 1];
const u32 = (m: Uint8Array, p: number) => ((m[p] << 24) | (m[p + 1] << 16) | (m[p + 2] << 8) | m[p + 3]) >>> 0;

/**
 * Parses the DNS message in msg[offset, offset+length) and calls `onAddress` for each A/AAAA
 * answer that belongs to the question. Returns DNS_OK, DNS_NOT_RESPONSE or DNS_MALFORMED.
 */
export function parseDnsResponse(msg: Uint8Array, offset: number, length: number, onAddress: DnsAddressCallback): number {
  const start = offset;
  const end = Math.min(offset + length, msg.length);
  if (end - start < 12) return DNS_MALFORMED;
  const flags = u16(msg, start + 2);
  if ((flags & 0x8000) === 0 || ((flags >> 11) & 0xf) !== 0) return DNS_NOT_RESPONSE;
  const qdcount = u16(msg, start + 4);
  const ancount = u16(msg, start + 6);
  if (qdcount === 0 || qdcount + ancount > MAX_RECORDS) return qdcount === 0 ? DNS_OK : DNS_MALFORMED;
  try {
    let pos = start + 12;
    let question = '';
    for (let i = 0; i < qdcount; i++) {
      const [name, next] = readName(msg, start, end, pos);
      if (next + 4 > end) return DNS_MALFORMED;
      if (i === 0) question = name;
      pos = next + 4;
    }
    const cnames: [string, string][] = [];
    const addresses: [string, string, number][] = [];
    for (let i = 0; i < ancount; i++) {
      const [owner, next] = readName(msg, start, end, pos);
      if (next + 10 > end) return DNS_MALFORMED;
      const type = u16(msg, next);
      const cls = u16(msg, next + 2);
      const ttl = u32(msg, next + 4);
      const rdlength = u16(msg, next + 8);
      const rdata = next + 10;
      if (rdata + rdlength > end) return DNS_MALFORMED;
      if (cls === CLASS_IN) {
        if (type === TYPE_A && rdlength === 4) addresses.push([owner, formatIp(msg.subarray(rdata, rdata + 4), 4), ttl]);
        else if (type === TYPE_AAAA && rdlength === 16) addresses.push([owner, formatIp(msg.subarray(rdata, rdata + 16), 6), ttl]);
        else if (type === TYPE_CNAME) cnames.push([owner, readName(msg, start, rdata + rdlength, rdata)[0]]);
        else if ((type === TYPE_A || type === TYPE_AAAA)) return DNS_MALFORMED;
      }
      pos = rdata + rdlength;
    }
    // names that stand for the question: the question itself and its CNAME chain
    const chain = new Set([question]);
    let current = question;
    for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
      const edge = cnames.find(([owner]) => owner === current);
      if (!edge || chain.has(edge[1])) break;
      current = edge[1];
      chain.add(current);
    }
    for (const [owner, address, ttl] of addresses) if (chain.has(owner)) onAddress(address, question, ttl);
    return DNS_OK;
  } catch (e) {
    if (e instanceof Malformed) return DNS_MALFORMED;
    throw e;
  }
}
