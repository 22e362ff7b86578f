/**
 * WireGuard over the veth underlay with Debian's userspace `wireguard-go` (kernel WireGuard
 * is not assumed): one wireguard-go process per interface, started in the foreground inside
 * its namespace so the lab owns its pid, configured with `wg set` through its control
 * socket, addressed and brought up with `ip`. The tun device disappears when the process
 * exits, so stopping the process is the interface's tear-down.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, Namespace } from './netns';
import { runSync, sleepSync } from './run';

const SOCKET_DIR = '/var/run/wireguard';
const START_TIMEOUT_MS = 5000;

export interface WireGuardInterface {
  ns: Namespace;
  name: string;
  /** Tunnel address with prefix, e.g. 100.64.0.1/24. */
  cidr: string;
  /** Tunnel address without prefix. */
  ip: string;
  publicKey: string;
  listenPort: number;
  /** Underlay address peers use as this interface's endpoint. */
  endpointIp: string;
  pid: number;
}

export interface WireGuardOptions {
  /** Tunnel address with prefix length. */
  cidr: string;
  /** Underlay address other peers reach this interface on. */
  endpointIp: string;
  listenPort?: number;
  /** MTU of the tunnel interface (wireguard-go default 1420). */
  mtu?: number;
}

/** Creates a WireGuard interface named `fm-<id>-<role>` in `ns`, with a fresh key pair, up. */
export function addWireGuard(lab: Lab, ns: Namespace, role: string, options: WireGuardOptions): WireGuardInterface {
  const name = lab.nameFor(role);
  const privateKey = runSync('wg', ['genkey']).trim();
  const publicKey = runSync('wg', ['pubkey'], { input: privateKey }).trim();
  const keyFile = join(lab.workDir, `${name}.key`);
  writeFileSync(keyFile, `${privateKey}\n`, { mode: 0o600 });

  const child = ns.spawn('wireguard-go', ['-f', name], {
    log: `${name}.wireguard-go.log`,
    env: { WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: 'error' },
  });
  const socket = join(SOCKET_DIR, `${name}.sock`);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`wireguard-go did not create ${socket} within ${START_TIMEOUT_MS} ms (see ${lab.workDir}/${name}.wireguard-go.log)`);
    }
    sleepSync(20);
  }

  const listenPort = options.listenPort ?? 51820;
  ns.run('wg', ['set', name, 'private-key', keyFile, 'listen-port', String(listenPort)]);
  ns.addAddress(name, options.cidr);
  // Like kernel WireGuard, no IPv6 link-local address (a tun device would get a random one
  // and send router solicitations into the tunnel).
  ns.ip('link', 'set', 'dev', name, 'addrgenmode', 'none');
  if (options.mtu) ns.ip('link', 'set', name, 'mtu', String(options.mtu));
  ns.linkUp(name);
  return {
    ns,
    name,
    cidr: options.cidr,
    ip: options.cidr.split('/')[0],
    publicKey,
    listenPort,
    endpointIp: options.endpointIp,
    pid: child.pid as number,
  };
}

/**
 * Makes `to` a peer of `from`: `from` sends traffic for `allowedIps` (default: `to`'s tunnel
 * address) to `to`'s underlay endpoint. Call it both ways for a working pair.
 */
export function addPeer(from: WireGuardInterface, to: WireGuardInterface, allowedIps: readonly string[] = [`${to.ip}/32`]): void {
  from.ns.run('wg', [
    'set', from.name, 'peer', to.publicKey,
    'endpoint', `${to.endpointIp}:${to.listenPort}`,
    'allowed-ips', allowedIps.join(','),
    'persistent-keepalive', '0',
  ]);
}

/** Peers every pair of interfaces (a full mesh); `routes` adds prefixes a member routes for. */
export function fullMesh(members: readonly WireGuardInterface[], routes: ReadonlyMap<WireGuardInterface, readonly string[]> = new Map()): void {
  for (const from of members) {
    for (const to of members) {
      if (from !== to) addPeer(from, to, [`${to.ip}/32`, ...(routes.get(to) ?? [])]);
    }
  }
}

/** Per-peer transfer counters of an interface, as `wg show <if> transfer` reports them. */
export function transfer(wg: WireGuardInterface): Map<string, { rx: number; tx: number }> {
  const out = new Map<string, { rx: number; tx: number }>();
  for (const line of wg.ns.run('wg', ['show', wg.name, 'transfer']).trim().split('\n')) {
    const [key, rx, tx] = line.split('\t');
    if (key) out.set(key, { rx: Number(rx), tx: Number(tx) });
  }
  return out;
}
