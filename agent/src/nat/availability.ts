/**
 * Whether NAT linking can and should run on this node: `auto` runs it when the node
 * forwards IP (a gateway; net.ipv4.ip_forward or IPv6 forwarding in the agent's network
 * namespace) and the conntrack tool is installed; `on` requires the tool; `off` never runs.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

export type NatLinkingMode = 'auto' | 'on' | 'off';

function forwards(): boolean {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8').trim() === '1';
    } catch {
      return false;
    }
  };
  return read('/proc/sys/net/ipv4/ip_forward') || read('/proc/sys/net/ipv6/conf/all/forwarding');
}

async function toolPresent(command: string): Promise<boolean> {
  try {
    await promisify(execFile)(command, ['--version'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** Whether to start linking, or why not (null reason = start). @throws Error for `on` without the tool. */
export async function natLinkingAvailable(mode: NatLinkingMode, command = 'conntrack'): Promise<{ start: boolean; reason: string }> {
  if (mode === 'off') return { start: false, reason: 'nat_linking.mode is off' };
  const present = await toolPresent(command);
  if (mode === 'on') {
    if (!present) throw new Error(`nat_linking.mode is on but the conntrack tool (${command}) is not installed (Debian package conntrack)`);
    return { start: true, reason: 'nat_linking.mode is on' };
  }
  if (!forwards()) return { start: false, reason: 'the node does not forward IP (not a gateway)' };
  if (!present) return { start: false, reason: `the conntrack tool (${command}) is not installed (Debian package conntrack)` };
  return { start: true, reason: 'the node forwards IP and conntrack is installed' };
}
