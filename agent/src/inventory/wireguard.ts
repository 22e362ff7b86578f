/**
 * WireGuard peers of a captured interface, from `wg show IFACE dump`, and the routing peer
 * of a flow: the peer whose allowed IPs route the flow's remote address, longest prefix
 * first (WireGuard's own cryptokey routing).
 *
 * A peer's own address vs a route through it: an allowed IP of host length (/32, /128) is
 * the peer's own tunnel address; a wider prefix (a LAN, 0.0.0.0/0 or ::/0 exits) is a route
 * the peer is the gateway of. Only own addresses take the peer's inventory name; a
 * destination behind a route keeps its own name and type (inventory, else external /
 * unknown), and the peer shows as the record's routing peer. An `addresses` entry of the
 * inventory file names any address explicitly (a hub whose own address sits inside a wider
 * allowed IP, a single LAN host routed as a /32).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parseCidr, type Cidr } from '../flow/addresses';
import type { Direction } from '../model/flow';
import { PrefixTable } from './prefixTable';

/** One peer of `wg show IFACE dump`. */
export interface WireGuardPeer {
  publicKey: string;
  allowedIps: string[];
}

/** A peer as flow records name it (inventory name, '' when the inventory has none). */
export interface PeerIdentity {
  name: string;
  publicKey: string;
}

export const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** An allowed IP of host length: the peer's own address rather than a route through it. */
export function isOwnAddress(cidr: Cidr): boolean {
  return cidr.bits === (cidr.version === 4 ? 32 : 128);
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

/** The allowed IPs of one WireGuard interface's peers, for routing-peer lookups. */
export class WireGuardRoutes {
  private readonly table = new PrefixTable<PeerIdentity>();

  /** `names`: inventory names by public key (peers without one get ''). */
  constructor(peers: readonly WireGuardPeer[], names: (publicKey: string) => string) {
    for (const peer of peers) {
      const identity: PeerIdentity = Object.freeze({ name: names(peer.publicKey), publicKey: peer.publicKey });
      for (const ip of peer.allowedIps) {
        const cidr = parseCidr(ip);
        if (cidr) this.table.set(cidr, identity);
      }
    }
  }

  /** The peer routing an address (longest allowed IP containing it). */
  routeOf(bytes: Uint8Array, version: 4 | 6): PeerIdentity | null {
    return this.table.lookup(bytes, version) ?? null;
  }

  /**
   * The routing peer of a flow: the peer routing its remote address, the destination for
   * outbound flows, the source for inbound ones; a forwarded flow takes the destination's
   * peer when one routes it (traffic the node sends on into the tunnel), else the source's
   * (traffic that arrived from a peer).
   */
  peerOf(src: Uint8Array, dst: Uint8Array, version: 4 | 6, direction: Direction): PeerIdentity | null {
    if (direction === 'inbound') return this.routeOf(src, version);
    if (direction === 'outbound') return this.routeOf(dst, version);
    return this.routeOf(dst, version) ?? this.routeOf(src, version);
  }
}
