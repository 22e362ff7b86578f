/** Privileged tests build namespaces and capture packets: they need root, say so loudly when skipped, and fail under CI. */
import { isRoot } from '../src/run';

export function describePrivileged(name: string, body: () => void): void {
  if (isRoot()) {
    describe(name, body);
    return;
  }
  if (process.env.CI) throw new Error(`CI must run "${name}" as root (network namespaces, wireguard-go, packet capture)`);
  console.warn(`\n!!! SKIPPING "${name}": needs root (network namespaces, wireguard-go, packet capture). Run as root or in CI.\n`);
  describe.skip(name, body);
}
