/**
 * IP addresses as 128-bit numbers, the form the store keeps beside the text so a CIDR filter
 * is a range predicate on an integer column (DuckDB's inet extension is not built in).
 * IPv4 addresses are IPv4-mapped (::ffff:a.b.c.d), so one column and one ordering serve both.
 */

const V4_MAPPED_BASE = 0xffff00000000n;

/** Parses a dotted quad in text[start, end); -1 when it is not one. Called per record on the write path: no allocation. */
function parseIpv4Number(text: string, start = 0, end = text.length): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      digits++;
      if (digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** Parses IPv6 text (with optional embedded IPv4 tail and %zone); null when invalid. */
function parseIpv6(text: string): bigint | null {
  const zone = text.indexOf('%');
  const body = zone >= 0 ? text.slice(0, zone) : text;
  if (body.length < 2) return null;
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4Number(piece);
        if (v4 < 0) return null;
        groups.push(Math.floor(v4 / 65536), v4 % 65536);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return null;
        groups.push(parseInt(piece, 16));
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  let value = 0n;
  for (const g of [...head, ...new Array<number>(missing).fill(0), ...tail]) value = (value << 16n) | BigInt(g);
  return value;
}

/** The 128-bit number of an IPv4 or IPv6 address (IPv4 mapped), or null when the text is no address. */
export function ipToBigInt(text: string): bigint | null {
  const v4 = parseIpv4Number(text);
  if (v4 >= 0) return V4_MAPPED_BASE | BigInt(v4);
  return text.includes(':') ? parseIpv6(text) : null;
}

export interface AddressRange {
  lo: bigint;
  hi: bigint;
}

/** Parses `10.0.0.0/8`, `fd00::/8` or a bare address (/32, /128) into its inclusive numeric range; null when invalid. */
export function parseCidr(text: string): AddressRange | null {
  const slash = text.indexOf('/');
  const addressText = slash >= 0 ? text.slice(0, slash) : text;
  const base = ipToBigInt(addressText.trim());
  if (base === null) return null;
  const isV4 = parseIpv4Number(addressText.trim()) >= 0;
  const maxBits = isV4 ? 32 : 128;
  let bits = maxBits;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(lengthText)) return null;
    bits = Number(lengthText);
    if (bits > maxBits) return null;
  }
  const hostBits = BigInt(maxBits - bits);
  const hostMask = (1n << hostBits) - 1n;
  const lo = base & ~hostMask;
  return { lo, hi: lo | hostMask };
}

/** Where ipToWords writes its answer (callers copy it out at once): no allocation per call. */
const words = new Uint32Array(4);
const groups = new Uint16Array(8);
const tailGroups = new Uint16Array(8);

/** The value of a hex digit, or -1. */
function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/**
 * Parses the ':'-separated groups of text[start, end) into `into` (1-4 hex digits each; the
 * last piece may be a dotted quad, two groups); the number of groups, or -1 when invalid or
 * more than 8. An empty range has no groups.
 */
function parseGroups(text: string, start: number, end: number, into: Uint16Array): number {
  if (start === end) return 0;
  let count = 0;
  let pieceStart = start;
  for (let i = start; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== 58) continue;
    if (i === end && text.lastIndexOf('.', end - 1) >= pieceStart) {
      const v4 = parseIpv4Number(text, pieceStart, end);
      if (v4 < 0 || count + 2 > 8) return -1;
      into[count++] = v4 >>> 16;
      into[count++] = v4 & 0xffff;
      return count;
    }
    const digits = i - pieceStart;
    if (digits < 1 || digits > 4 || count === 8) return -1;
    let group = 0;
    for (let j = pieceStart; j < i; j++) {
      const digit = hexDigit(text.charCodeAt(j));
      if (digit < 0) return -1;
      group = group * 16 + digit;
    }
    into[count++] = group;
    pieceStart = i + 1;
  }
  return count;
}

/** IPv6 text (optional embedded IPv4 tail and %zone) into `words`; false when invalid. Same grammar as parseIpv6. */
function ipv6ToWords(text: string): boolean {
  const zone = text.indexOf('%');
  const end = zone >= 0 ? zone : text.length;
  if (end < 2) return false;
  const gap = text.indexOf('::');
  const hasGap = gap >= 0 && gap + 2 <= end;
  if (hasGap) {
    const second = text.indexOf('::', gap + 2);
    if (second >= 0 && second + 2 <= end) return false;
  }
  const head = parseGroups(text, 0, hasGap ? gap : end, groups);
  const tail = hasGap ? parseGroups(text, gap + 2, end, tailGroups) : 0;
  if (head < 0 || tail < 0) return false;
  const missing = 8 - head - tail;
  if (hasGap ? missing < 1 : missing !== 0) return false;
  groups.fill(0, head, head + missing);
  for (let i = 0; i < tail; i++) groups[head + missing + i] = tailGroups[i];
  for (let w = 0; w < 4; w++) words[3 - w] = ((groups[2 * w] << 16) | groups[2 * w + 1]) >>> 0;
  return true;
}

const IPV6_CACHE_LIMIT = 65_536;
const ipv6Cache = new Map<string, Uint32Array | null>();

/**
 * The address as four little-endian 32-bit words (DuckDB's UHUGEINT memory layout), or null
 * when invalid. Runs twice per address of every stored record (validation, columnar fill), so
 * IPv4 is parsed in place without allocating (as fast as a cache hit) and IPv6 is parsed
 * without allocating and memoised (a node sees the same few over and over; a miss costs
 * about 0.15 µs). The returned array may be reused by the next call: copy the words out at once.
 */
export function ipToWords(text: string): Uint32Array | null {
  const v4 = parseIpv4Number(text);
  if (v4 >= 0) {
    words[0] = v4; // ::ffff:a.b.c.d
    words[1] = 0xffff;
    words[2] = 0;
    words[3] = 0;
    return words;
  }
  if (!text.includes(':')) return null;
  const cached = ipv6Cache.get(text);
  if (cached !== undefined) return cached;
  const parsed = ipv6ToWords(text) ? Uint32Array.from(words) : null;
  if (ipv6Cache.size >= IPV6_CACHE_LIMIT) ipv6Cache.clear();
  ipv6Cache.set(text, parsed);
  return parsed;
}
