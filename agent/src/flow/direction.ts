/**
 * The reporting node's own addresses (host interfaces plus configured addresses/prefixes)
 * and the direction of a flow from its view: outbound when the initiator is local, inbound
 * when the responder is, forwarded when neither (a gateway relaying traffic).
 */
import { networkInterfaces } from 'node:os';
import type { Direction } from '../model/flow';
import { cidrContains, parseCidr, type Cidr } from './addresses';

function parseAll(entries: readonly string[]): Cidr[] {
  return entries.map((e) => {
    const c = parseCidr(e);
    if (!c) throw new Error(`local_addresses: "${e}" is not an IP address or CIDR prefix`);
    return c;
  });
}

function hostAddresses(): string[] {
  const own: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) own.push(a.address.replace(/%.*$/, ''));
  }
  return own;
}

export class LocalAddresses {
  private prefixes: readonly Cidr[];
  private entries: readonly string[];

  private constructor(entries: readonly string[], private readonly extra: readonly string[] | undefined) {
    this.entries = entries;
    this.prefixes = parseAll(entries);
  }

  /** Explicit prefixes/addresses only (tests, imports of captures from another host). */
  static of(entries: readonly string[]): LocalAddresses {
    return new LocalAddresses(entries, undefined);
  }

  /** This host's interface addresses plus `extra` prefixes/addresses; refreshHost() re-reads the interfaces. */
  static fromHost(extra: readonly string[] = []): LocalAddresses {
    parseAll(extra); // report a bad configured entry up front
    return new LocalAddresses([...hostAddresses(), ...extra], extra);
  }

  /** Re-reads the host's interface addresses (tunnels come and go); no-op for explicit lists. */
  refreshHost(): void {
    if (!this.extra) return;
    this.entries = [...hostAddresses(), ...this.extra];
    this.prefixes = parseAll(this.entries);
  }

  /** The addresses and prefixes in use, as text. */
  list(): string[] {
    return [...this.entries];
  }

  get size(): number {
    return this.prefixes.length;
  }

  isLocal(bytes: Uint8Array, version: 4 | 6): boolean {
    for (const p of this.prefixes) if (cidrContains(p, bytes, version)) return true;
    return false;
  }

  direction(src: Uint8Array, dst: Uint8Array, version: 4 | 6): Direction {
    if (this.isLocal(src, version)) return 'outbound';
    if (this.isLocal(dst, version)) return 'inbound';
    return 'forwarded';
  }
}
