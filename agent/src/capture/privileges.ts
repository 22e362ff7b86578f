/**
 * The Linux capabilities live capture relies on, read from /proc/self/status, so that a capture
 * the kernel refuses is explained by the capability that is missing instead of a bare
 * "Operation not permitted". The agent runs unprivileged with exactly these two (ambient):
 * - CAP_NET_RAW opens the packet socket libpcap captures on (the only one capture itself needs);
 * - CAP_NET_ADMIN lets `wg show` read kernel WireGuard's peer list (generic netlink) for peer names.
 */
import { readFileSync } from 'node:fs';

export const CAPTURE_CAPABILITIES = {
  CAP_NET_RAW: { bit: 13n, neededFor: 'opening the packet capture' },
  CAP_NET_ADMIN: { bit: 12n, neededFor: "reading kernel WireGuard peers ('wg show') for peer names" },
} as const;
export type CaptureCapability = keyof typeof CAPTURE_CAPABILITIES;

/** The effective capability set from /proc/self/status text, or undefined when it has none (not Linux). */
export function effectiveCapabilities(status?: string): bigint | undefined {
  let text = status;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return undefined;
    }
  }
  const match = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(text);
  return match ? BigInt(`0x${match[1]}`) : undefined;
}

/** The capabilities of the two that the process lacks; empty when unknown (not Linux). */
export function missingCaptureCapabilities(effective = effectiveCapabilities()): CaptureCapability[] {
  if (effective === undefined) return [];
  return (Object.keys(CAPTURE_CAPABILITIES) as CaptureCapability[]).filter((name) => (effective & (1n << CAPTURE_CAPABILITIES[name].bit)) === 0n);
}

/** A capture the kernel refused for lack of privileges; the message names what is missing. */
export class CapturePermissionError extends Error {
  constructor(
    message: string,
    readonly missing: CaptureCapability[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CapturePermissionError';
  }
}

const PERMISSION_DENIED = /operation not permitted|permission|EPERM|EACCES/i;
const howToGrant = (count: number) =>
  `grant ${count > 1 ? 'them' : 'it'} as the packaged systemd unit does (AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN), ` +
  'with setpriv --inh-caps=+net_raw,+net_admin --ambient-caps=+net_raw,+net_admin, or in a container with ' +
  '--cap-add NET_RAW --cap-add NET_ADMIN; or run as root';

/**
 * Turns a capture-open failure caused by missing privileges into a CapturePermissionError that
 * names the missing capability; any other error is returned unchanged.
 */
export function explainCaptureOpenError(err: unknown, iface: string, effective = effectiveCapabilities()): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (!PERMISSION_DENIED.test(message)) return err;
  const missing = missingCaptureCapabilities(effective);
  if (missing.includes('CAP_NET_RAW')) {
    const detail = missing.map((name) => `${name} (${CAPTURE_CAPABILITIES[name].neededFor})`).join(' and ');
    return new CapturePermissionError(
      `cannot capture on interface '${iface}': missing capability ${detail}; ${howToGrant(missing.length)} (${message})`,
      missing,
      { cause: err },
    );
  }
  if (effective === undefined) return err;
  return new CapturePermissionError(
    `cannot capture on interface '${iface}': permission denied although CAP_NET_RAW is effective: a sandbox refuses packet ` +
      'sockets (systemd RestrictAddressFamilies without AF_PACKET, a seccomp or AppArmor profile) or the process is in a ' +
      `user namespace that does not own the network namespace (${message})`,
    missing,
    { cause: err },
  );
}
