/**
 * Gate for tests that need root (packet capture, network namespaces, mounts). As root — CI is
 * root — they run. Otherwise they skip with a loud warning; under CI not being root is a
 * failure instead, so a CI run can never pass with the privileged tests silently left out.
 */
export const isRoot = process.getuid?.() === 0;

export function privileged(what: string): { describe: jest.Describe; test: jest.It } {
  if (isRoot) return { describe, test };
  if (process.env.CI) throw new Error(`CI must run ${what} as root (packet capture, namespaces, mounts)`);
  console.warn(`\n!!! SKIPPING ${what}: needs root (packet capture, namespaces, mounts). Run as root, as CI does.\n`);
  return { describe: describe.skip, test: test.skip };
}
