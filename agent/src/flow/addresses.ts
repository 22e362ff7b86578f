/**
 * IP address text <-> bytes, CIDR prefixes and address classification. Used at flow
 * creation and per record, in the inventory and the DNS cache (never per packet).
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface IpBytes {
  version: 4 | 6;
  /** 4 bytes for IPv4, 16 for IPv6 */
  bytes: Uint8Array;
}

/** Parses an IPv4 or IPv6 address (IPv6 may embed a dotted IPv4 tail); undefined when invalid. */
export function parseIp(text: string): IpBytes | undefined {
  if (isIPv4(text)) return { version: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
  if (!isIPv6(text)) return undefined;
  let s = text.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const lastColon = s.lastIndexOf(':');
  let tail: number[] = [];
  if (s.includes('.')) {
    const v4 = s.slice(lastColon + 1).split('.').map(Number);
    tail = [(v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]];
    s = s.slice(0, lastColon + 1) + '0';
  }
  const [head, rest] = s.split('::');
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest !== undefined && rest !== '' ? rest.split(':') : [];
  let groups: number[];
  if (rest === undefined) groups = headGroups.map((g) => parseInt(g, 16));
  else {
    const zeros = 8 - headGroups.length - restGroups.length - (tail.length ? 1 : 0);
    groups = [...headGroups, ...Array(Math.max(zeros, 0)).fill('0'), ...restGroups].map((g) => parseInt(g, 16));
  }
  if (tail.length) groups = [...groups.slice(0, groups.length - 1), ...tail];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = groups[i] >> 8;
    bytes[i * 2 + 1] = groups[i] & 0xff;
  }
  return { version: 6, bytes };
}

/** IPv6 text is written here (at most 39 characters) and read out as one string. */
const textScratch = Buffer.alloc(40);
const groupScratch = new Uint16Array(8);
const HEX_DIGITS = '0123456789abcdef';

/**
 * Canonical text (IPv6 in RFC 5952 form: lower case, longest zero run compressed). Allocates
 * only the result: it runs for every flow record.
 */
export function formatIp(bytes: Uint8Array, version: 4 | 6): string {
  if (version === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups = groupScratch;
  for (let i = 0; i < 8; i++) groups[i] = (bytes[i * 2] << 8) | bytes[i * 2 + 1];
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const out = textScratch;
  const COLON = 0x3a;
  let o = 0;
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out[o++] = COLON;
      out[o++] = COLON;
      i += bestLen - 1;
      continue;
    }
    if (o > 0 && out[o - 1] !== COLON) out[o++] = COLON;
    const g = groups[i];
    if (g >= 0x1000) out[o++] = HEX_DIGITS.charCodeAt(g >> 12);
    if (g >= 0x100) out[o++] = HEX_DIGITS.charCodeAt((g >> 8) & 15);
    if (g >= 0x10) out[o++] = HEX_DIGITS.charCodeAt((g >> 4) & 15);
    out[o++] = HEX_DIGITS.charCodeAt(g & 15);
  }
  return out.toString('latin1', 0, o);
}

/** A parsed prefix; `bits` 0..32 or 0..128. */
export interface Cidr {
  version: 4 | 6;
  bytes: Uint8Array;
  bits: number;
}

/** Parses `ADDR/BITS` or a bare address (= host prefix); undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.version === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return undefined;
    bits = Number(b);
    if (bits > max) return undefined;
  }
  return { version: ip.version, bytes: maskBytes(ip.bytes, bits), bits };
}

/** Copy of `bytes` with everything after the first `bits` bits zeroed. */
export function maskBytes(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(Math.max(bits - i * 8, 0), 8);
    out[i] = keep === 0 ? 0 : bytes[i] & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export function cidrContains(cidr: Cidr, bytes: Uint8Array, version: 4 | 6): boolean {
  if (cidr.version !== version) return false;
  const full = cidr.bits >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[full] & mask) === cidr.bytes[full];
}

/**
 * True for addresses that are not globally routable (private, CGNAT, loopback, link-local,
 * ULA, multicast, reserved): unmatched ones are typed `unknown`, unmatched public ones
 * `external`. IPv4: 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16, 224/4,
 * 240/4; IPv6: ::/128, ::1/128, fc00::/7, fe80::/10, ff00::/8. Read byte by byte: it runs for
 * both endpoints of every new flow.
 */
export function isNonPublic(bytes: Uint8Array, version: 4 | 6): boolean {
  const a = bytes[0];
  const b = bytes[1];
  if (version === 4) {
    return a === 0 || a === 10 || a === 127 || a >= 224 || (a === 100 && (b & 0xc0) === 64) ||
      (a === 169 && b === 254) || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168);
  }
  if ((a & 0xfe) === 0xfc || a === 0xff || (a === 0xfe && (b & 0xc0) === 0x80)) return true;
  for (let i = 0; i < 15; i++) if (bytes[i] !== 0) return false;
  return bytes[15] <= 1;
}
