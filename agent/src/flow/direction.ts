/**
 * The reporting node's own addresses (host interfaces plus configured addresses/prefixes)
 * and the direction of a flow from its view: outbound when the initiator is local, inbound
 * when the responder is, forwarded when neither (a gateway relaying traffic).
 */
import { networkInterfaces } from 'node:os';
import type { Direction } from '../model/flow';
import { cidrContains, parseCidr, type Cidr } from './addresses';

export class LocalAddresses {
  private constructor(private readonly prefixes: readonly Cidr[]) {}

  /** Explicit prefixes/addresses only (tests, imports of captures from another host). */
  static of(entries: readonly string[]): LocalAddresses {
    return new LocalAddresses(entries.map((e) => {
      const c = parseCidr(e);
      if (!c) throw new Error(`local_addresses: "${e}" is not an IP address or CIDR prefix`);
      return c;
    }));
  }

  /** This host's interface addresses plus `extra` prefixes/addresses. */
  static fromHost(extra: readonly string[] = []): LocalAddresses {
    const own: string[] = [];
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) own.push(a.address);
    }
    return LocalAddresses.of([...own, ...extra]);
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
