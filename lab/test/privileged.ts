/** Privileged tests build namespaces and capture packets: they need root, and say so loudly when skipped. */
import { isRoot } from '../src/run';

export function describePrivileged(name: string, body: () => void): void {
  if (isRoot()) {
    describe(name, body);
    return;
  }
  console.warn(`\n!!! SKIPPING "${name}": needs root (network namespaces, wireguard-go, packet capture). Run as root or in CI.\n`);
  describe.skip(name, body);
}
