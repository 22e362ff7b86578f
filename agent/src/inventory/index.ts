/**
 * The inventory: human names and types for addresses. A YAML or JSON file maps IPs and CIDR
 * prefixes to {name, type} (most specific prefix wins) and may name WireGuard peers by public
 * key; when capturing on a WireGuard interface, each named peer's allowed IPs take that name.
 * Unmatched public addresses are `external`, unmatched non-public ones `unknown` (name '').
 * Looked up once per flow.
 *
 * File format (YAML shown; JSON with the same shape works too):
 *
 *   addresses:
 *     10.100.0.1: { name: gw-frankfurt, type: node }
 *     10.100.0.0/16: { name: mesh, type: node }
 *     192.168.10.0/24: { name: office-lan, type: egress }
 *   wireguard_peers:
 *     "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=": { name: alice-laptop, type: user }
 */
import { readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { EndpointType } from '../model/flow';
import { isNonPublic, parseCidr, type Cidr } from '../flow/addresses';

export const INVENTORY_TYPES = ['node', 'user', 'external', 'egress'] as const;
export type InventoryType = (typeof INVENTORY_TYPES)[number];

export interface InventoryEntry {
  name: string;
  type: InventoryType;
}

export interface EndpointInfo {
  name: string;
  type: EndpointType;
}

export class InventoryError extends Error {}

/** One peer of `wg show IFACE dump`. */
export interface WireGuardPeer {
  publicKey: string;
  allowedIps: string[];
}

interface Table {
  /** prefix lengths present, longest first */
  lengths: number[];
  /** per prefix length: network key (see prefixKey) -> entry */
  byLength: Map<number, Map<number | string, InventoryEntry>>;
}

const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

function networkKey(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Map key of the `bits`-long prefix of an address: a number for IPv4 (no allocation), hex for IPv6. */
function prefixKey(bytes: Uint8Array, version: 4 | 6, bits: number): number | string {
  if (version === 4) {
    const word = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    return bits === 0 ? 0 : word >>> (32 - bits);
  }
  return networkKey(maskTo(bytes.subarray(0, 16), bits));
}

export class Inventory {
  private readonly tables: Record<4 | 6, Table> = {
    4: { lengths: [], byLength: new Map() },
    6: { lengths: [], byLength: new Map() },
  };
  /** Entries from the file, which win over WireGuard-derived ones at equal prefix length. */
  private readonly explicit = new Set<string>();
  readonly peers: ReadonlyMap<string, InventoryEntry>;

  constructor(addresses: ReadonlyMap<string, InventoryEntry> = new Map(), peers: ReadonlyMap<string, InventoryEntry> = new Map()) {
    for (const [cidrText, entry] of addresses) {
      const cidr = parseCidr(cidrText) as Cidr;
      this.add(cidr, entry);
      this.explicit.add(`${cidr.version}/${cidr.bits}/${prefixKey(cidr.bytes, cidr.version, cidr.bits)}`);
    }
    this.peers = peers;
  }

  /** An inventory with no entries: every address is `external` or `unknown`. */
  static empty(): Inventory {
    return new Inventory();
  }

  static fromFile(path: string): Inventory {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InventoryError(`inventory ${path}: cannot read: ${(err as Error).message}`);
    }
    return Inventory.parse(text, path);
  }

  /** Parses and validates inventory text; errors name the offending entry. */
  static parse(text: string, source = 'inventory'): Inventory {
    let doc: unknown;
    try {
      doc = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      throw new InventoryError(`${source}: not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
    }
    if (doc === null || doc === undefined) doc = {};
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InventoryError(`${source}: expected a mapping with "addresses" and/or "wireguard_peers"`);
    const known = new Set(['addresses', 'wireguard_peers']);
    for (const k of Object.keys(doc)) {
      if (!known.has(k)) throw new InventoryError(`${source}: unknown key "${k}" (expected "addresses" or "wireguard_peers")`);
    }
    const { addresses = {}, wireguard_peers: peers = {} } = doc as Record<string, unknown>;
    const addressEntries = readEntries(addresses, `${source}: addresses`, (key, where) => {
      if (!parseCidr(key)) throw new InventoryError(`${where}: "${key}" is not an IP address or CIDR prefix`);
    });
    const peerEntries = readEntries(peers, `${source}: wireguard_peers`, (key, where) => {
      if (!WG_KEY.test(key)) throw new InventoryError(`${where}: "${key}" is not a WireGuard public key (44 base64 characters)`);
    });
    return new Inventory(addressEntries, peerEntries);
  }

  /** Names each known peer's allowed IPs after the peer's inventory entry; returns how many prefixes were added. */
  addWireGuardPeers(peers: readonly WireGuardPeer[]): number {
    let added = 0;
    for (const peer of peers) {
      const entry = this.peers.get(peer.publicKey);
      if (!entry) continue;
      for (const ip of peer.allowedIps) {
        const cidr = parseCidr(ip);
        if (!cidr || this.explicit.has(`${cidr.version}/${cidr.bits}/${prefixKey(cidr.bytes, cidr.version, cidr.bits)}`)) continue;
        this.add(cidr, entry);
        added++;
      }
    }
    return added;
  }

  private add(cidr: Cidr, entry: InventoryEntry): void {
    const table = this.tables[cidr.version];
    let map = table.byLength.get(cidr.bits);
    if (!map) {
      map = new Map();
      table.byLength.set(cidr.bits, map);
      table.lengths = [...table.byLength.keys()].sort((a, b) => b - a);
    }
    map.set(prefixKey(cidr.bytes, cidr.version, cidr.bits), entry);
  }

  /** The most specific entry for the address, or the default: external (public) / unknown. */
  lookup(bytes: Uint8Array, version: 4 | 6): EndpointInfo {
    const table = this.tables[version];
    for (const bits of table.lengths) {
      const hit = table.byLength.get(bits)?.get(prefixKey(bytes, version, bits));
      if (hit) return hit;
    }
    return isNonPublic(bytes, version) ? UNKNOWN : EXTERNAL;
  }
}

const UNKNOWN: EndpointInfo = Object.freeze({ name: '', type: 'unknown' });
const EXTERNAL: EndpointInfo = Object.freeze({ name: '', type: 'external' });

function maskTo(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.min(Math.max(bits - i * 8, 0), 8);
    out[i] = keep === 0 ? 0 : bytes[i] & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function readEntries(
  value: unknown,
  where: string,
  checkKey: (key: string, where: string) => void,
): Map<string, InventoryEntry> {
  if (value === null) return new Map();
  if (typeof value !== 'object' || Array.isArray(value)) throw new InventoryError(`${where}: expected a mapping of keys to {name, type}`);
  const out = new Map<string, InventoryEntry>();
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    const at = `${where}["${key}"]`;
    checkKey(key, where);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InventoryError(`${at}: expected {name, type}`);
    const { name, type, ...rest } = raw as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length) throw new InventoryError(`${at}: unknown field "${extra[0]}" (allowed: name, type)`);
    if (typeof name !== 'string' || name.trim() === '') throw new InventoryError(`${at}.name: must be a non-empty string`);
    if (typeof type !== 'string' || !(INVENTORY_TYPES as readonly string[]).includes(type)) {
      throw new InventoryError(`${at}.type: must be one of ${INVENTORY_TYPES.join(', ')} (got ${JSON.stringify(type)})`);
    }
    out.set(key, { name, type: type as InventoryType });
  }
  return out;
}

/**
 * Parses `wg show IFACE dump`: the first line describes the interface, each further line a
 * peer: public-key, preshared-key, endpoint, allowed-ips (comma separated or "(none)"),
 * latest-handshake, rx, tx, keepalive — tab separated.
 */
export function parseWireGuardDump(text: string): WireGuardPeer[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(1).flatMap((line) => {
    const f = line.split('\t');
    if (f.length < 4 || !WG_KEY.test(f[0])) return [];
    const allowed = f[3] === '(none)' ? [] : f[3].split(',').map((s) => s.trim()).filter(Boolean);
    return [{ publicKey: f[0], allowedIps: allowed }];
  });
}

/** Peers of a WireGuard interface via `wg show IFACE dump`; undefined when it is not one (or wg is missing). */
export async function readWireGuardPeers(iface: string): Promise<WireGuardPeer[] | undefined> {
  try {
    const { stdout } = await promisify(execFile)('wg', ['show', iface, 'dump'], { timeout: 5000 });
    return parseWireGuardDump(stdout);
  } catch {
    return undefined;
  }
}
