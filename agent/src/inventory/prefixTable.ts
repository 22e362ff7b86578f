/**
 * Longest-prefix match over IPv4 and IPv6 prefixes: one hash map per prefix length, looked up
 * from the longest length present down. A lookup allocates nothing for IPv4 (the network is
 * a number) and one hex string per length for IPv6; it runs once per flow, never per packet.
 */
import type { Cidr } from '../flow/addresses';

interface ByLength<T> {
  /** prefix lengths present, longest first */
  lengths: number[];
  /** per prefix length: network key (see prefixKey) -> value */
  maps: Map<number, Map<number | string, T>>;
}

/** Map key of the `bits`-long prefix of an address: a number for IPv4 (no allocation), hex for IPv6. */
export function prefixKey(bytes: Uint8Array, version: 4 | 6, bits: number): number | string {
  if (version === 4) {
    const word = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    return bits === 0 ? 0 : word >>> (32 - bits);
  }
  return Buffer.from(maskTo(bytes.subarray(0, 16), bits)).toString('hex');
}

function maskTo(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(Math.max(bits - i * 8, 0), 8);
    out[i] = keep === 0 ? 0 : bytes[i] & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export class PrefixTable<T> {
  private readonly tables: Record<4 | 6, ByLength<T>> = {
    4: { lengths: [], maps: new Map() },
    6: { lengths: [], maps: new Map() },
  };

  /** Sets the value of a prefix (replacing an earlier one of the same prefix). */
  set(cidr: Cidr, value: T): void {
    const table = this.tables[cidr.version];
    let map = table.maps.get(cidr.bits);
    if (!map) {
      map = new Map();
      table.maps.set(cidr.bits, map);
      table.lengths = [...table.maps.keys()].sort((a, b) => b - a);
    }
    map.set(prefixKey(cidr.bytes, cidr.version, cidr.bits), value);
  }

  /** The value of exactly this prefix. */
  get(cidr: Cidr): T | undefined {
    return this.tables[cidr.version].maps.get(cidr.bits)?.get(prefixKey(cidr.bytes, cidr.version, cidr.bits));
  }

  /** The value of the longest prefix containing the address. */
  lookup(bytes: Uint8Array, version: 4 | 6): T | undefined {
    const table = this.tables[version];
    for (const bits of table.lengths) {
      const hit = table.maps.get(bits)?.get(prefixKey(bytes, version, bits));
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
}
