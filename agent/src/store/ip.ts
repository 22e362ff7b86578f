/**
 * IP addresses as 128-bit numbers, the form the store keeps beside the text so a CIDR filter
 * is a range predicate on an integer column (DuckDB's inet extension is not built in).
 * IPv4 addresses are IPv4-mapped (::ffff:a.b.c.d), so one column and one ordering serve both.
 */

const V4_MAPPED_BASE = 0xffff00000000n;

/** Parses a dotted quad; -1 when the text is not one. Called per record on the write path: no allocation. */
function parseIpv4Number(text: string, start = 0): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < text.length; i++) {
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

const WORDS_CACHE_LIMIT = 65_536;
const wordsCache = new Map<string, Uint32Array | null>();

/**
 * The address as four little-endian 32-bit words (DuckDB's UHUGEINT memory layout), or null
 * when invalid. Memoised: a node sees the same few addresses over and over, and this runs
 * for every stored record.
 */
export function ipToWords(text: string): Uint32Array | null {
  const cached = wordsCache.get(text);
  if (cached !== undefined) return cached;
  const value = ipToBigInt(text);
  let words: Uint32Array | null = null;
  if (value !== null) {
    words = new Uint32Array(4);
    for (let i = 0; i < 4; i++) words[i] = Number((value >> BigInt(32 * i)) & 0xffffffffn);
  }
  if (wordsCache.size >= WORDS_CACHE_LIMIT) wordsCache.clear();
  wordsCache.set(text, words);
  return words;
}
