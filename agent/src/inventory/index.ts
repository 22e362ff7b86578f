/**
 * The inventory: human names and types for addresses. A YAML or JSON file maps IPs and CIDR
 * prefixes to {name, type} (most specific prefix wins) and may name WireGuard peers by public
 * key; when capturing on a WireGuard interface, each named peer's own tunnel addresses (its
 * host-length allowed IPs, see wireguard.ts) take that name, while the wider prefixes it
 * routes keep their own names. Unmatched public addresses are `external`, unmatched
 * non-public ones `unknown` (name ''). Looked up once per flow.
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
import type { EndpointType } from '../model/flow';
import { isNonPublic, parseCidr, type Cidr } from '../flow/addresses';
import { PrefixTable, prefixKey } from './prefixTable';
import { isOwnAddress, WG_KEY, WireGuardRoutes, type WireGuardPeer } from './wireguard';

/** The YAML parser, loaded when an inventory file is read (30 ms of module loading an import without one does not pay). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parseYaml = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text);

export { parseWireGuardDump, readWireGuardPeers, isOwnAddress, WireGuardRoutes } from './wireguard';
export type { WireGuardPeer, PeerIdentity } from './wireguard';

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

const cidrId = (cidr: Cidr) => `${cidr.version}/${cidr.bits}/${prefixKey(cidr.bytes, cidr.version, cidr.bits)}`;

export class Inventory {
  private readonly table = new PrefixTable<InventoryEntry>();
  /** Entries from the file, which win over WireGuard-derived ones at equal prefix length. */
  private readonly explicit = new Set<string>();
  readonly peers: ReadonlyMap<string, InventoryEntry>;

  constructor(addresses: ReadonlyMap<string, InventoryEntry> = new Map(), peers: ReadonlyMap<string, InventoryEntry> = new Map()) {
    for (const [cidrText, entry] of addresses) {
      const cidr = parseCidr(cidrText) as Cidr;
      this.table.set(cidr, entry);
      this.explicit.add(cidrId(cidr));
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

  /**
   * Names each known peer's own addresses (host-length allowed IPs) after the peer's
   * inventory entry; wider allowed IPs are routes and name nothing. Returns how many
   * addresses were added.
   */
  addWireGuardPeers(peers: readonly WireGuardPeer[]): number {
    let added = 0;
    for (const peer of peers) {
      const entry = this.peers.get(peer.publicKey);
      if (!entry) continue;
      for (const ip of peer.allowedIps) {
        const cidr = parseCidr(ip);
        if (!cidr || !isOwnAddress(cidr) || this.explicit.has(cidrId(cidr))) continue;
        this.table.set(cidr, entry);
        added++;
      }
    }
    return added;
  }

  /** Routing-peer lookups for one WireGuard interface's peers, named from this inventory. */
  routesOf(peers: readonly WireGuardPeer[]): WireGuardRoutes {
    return new WireGuardRoutes(peers, (key) => this.peers.get(key)?.name ?? '');
  }

  /** The most specific entry for the address, or the default: external (public) / unknown. */
  lookup(bytes: Uint8Array, version: 4 | 6): EndpointInfo {
    return this.table.lookup(bytes, version) ?? (isNonPublic(bytes, version) ? UNKNOWN : EXTERNAL);
  }
}

const UNKNOWN: EndpointInfo = Object.freeze({ name: '', type: 'unknown' });
const EXTERNAL: EndpointInfo = Object.freeze({ name: '', type: 'external' });

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

