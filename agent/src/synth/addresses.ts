/**
 * The generator's address plan: a capturing mesh node, other mesh nodes in 100.64.0.0/10
 * and fd7a:115c:a1e0::/48 (inside fd00::/8), a LAN in 10.0.0.0/16, public IPv4 servers in
 * real public prefixes, public IPv6 servers in 2001:db8::/32. Addresses are formatted here
 * (RFC 5952 for IPv6) independently of the agent's code, so the ground truth is independent.
 */
import type { Prng } from './prng';

export const CAPTURE_HOST = {
  meshV4: Uint8Array.of(100, 64, 0, 1),
  lanV4: Uint8Array.of(10, 0, 1, 1),
  meshV6: Uint8Array.of(0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
};

/** Public /16s (large CDNs and clouds), host bytes chosen at random. */
const PUBLIC_V4_PREFIXES: readonly (readonly [number, number])[] = [
  [142, 250], [151, 101], [104, 16], [140, 82], [52, 84], [13, 107], [34, 120], [185, 199], [94, 140], [172, 217],
];

export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export class AddressPlan {
  constructor(private readonly rng: Prng) {}

  /** Another mesh node (100.64.0.2 - 100.64.0.40). */
  meshNodeV4(): Uint8Array {
    return Uint8Array.of(100, 64, 0, this.rng.int(2, 40));
  }

  /** A mesh user device (100.96.0.0/16). */
  meshUserV4(): Uint8Array {
    return Uint8Array.of(100, 96, this.rng.int(0, 255), this.rng.int(1, 254));
  }

  lanV4(): Uint8Array {
    return Uint8Array.of(10, 0, this.rng.int(1, 9), this.rng.int(2, 254));
  }

  publicV4(): Uint8Array {
    const [a, b] = this.rng.pick(PUBLIC_V4_PREFIXES);
    return Uint8Array.of(a, b, this.rng.int(0, 255), this.rng.int(1, 254));
  }

  meshV6(): Uint8Array {
    const out = new Uint8Array(16);
    out.set(CAPTURE_HOST.meshV6.subarray(0, 6));
    for (let i = 8; i < 16; i++) out[i] = this.rng.int(0, 255);
    return out;
  }

  publicV6(): Uint8Array {
    const out = new Uint8Array(16);
    out[0] = 0x20;
    out[1] = 0x01;
    out[2] = 0x0d;
    out[3] = 0xb8;
    for (let i = 4; i < 16; i++) out[i] = this.rng.chance(0.5) ? 0 : this.rng.int(0, 255);
    out[15] = this.rng.int(1, 255);
    return out;
  }

  /** A locally administered MAC derived from an address (stable per address). */
  mac(address: Uint8Array): Uint8Array {
    const m = Uint8Array.of(0x02, 0, 0, 0, 0, 0);
    for (let i = 0; i < address.length; i++) m[1 + (i % 5)] ^= address[i];
    return m;
  }

  ephemeralPort(): number {
    return this.rng.int(32768, 60999);
  }
}
