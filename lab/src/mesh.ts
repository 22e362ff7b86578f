/**
 * The mesh lab topology: a small WireGuard mesh like the ones Flowmesh watches, built in
 * network namespaces. Reusable: the `npm run lab` entry point, live tests and end-to-end
 * tests build it the same way.
 *
 *   root namespace (Grafana, curl, browser) ── fm-<id>-host 10.203.0.254/24
 *        │ veth
 *   ns fm-<id>-ul: bridge fm-<id>-br = the underlay (the "internet" the mesh runs over)
 *        ├── node-a  10.203.0.1   wg 100.64.0.1/24   server: HTTP :8080
 *        ├── node-b  10.203.0.2   wg 100.64.0.2/24   server: TCP 5432 dropped by nftables
 *        ├── gw      10.203.0.3   wg 100.64.0.3/24   routing peer: forwards to its LAN
 *        │     ├── lan veth 192.168.50.1/24 ── lan host 192.168.50.10 (HTTP :8080, DNS :53)
 *        │     └── egress veth 203.0.113.1/24 ── inet host 203.0.113.10 (HTTP :8080), masqueraded
 *        └── laptop  10.203.0.10  wg 100.64.0.10/24  a user's device
 *   (node-c 100.64.0.20 is in the inventory as a node but runs nowhere: traffic to it is
 *    reported by the sender's agent only, like a peer whose tunnel is down)
 *   (the internet host also answers on 203.0.113.20, an address no earlier traffic used)
 *
 * The WireGuard mesh is full (every member peers with every other); the gateway's peer entry
 * also carries the LAN and egress prefixes, and every member routes those into its tunnel.
 * Agents listen on their underlay address, which the root namespace reaches through the
 * host veth: http://10.203.0.N:9477. The underlay /24 is the only thing in the root namespace,
 * so each lab claims a free one (10.203.0.0/24 first, then 10.203.1.0/24...) and several mesh
 * labs can run at once; everything else lives inside the lab's own namespaces.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, Namespace } from './netns';
import { processAlive, runSync } from './run';
import { addWireGuard, fullMesh, type WireGuardInterface } from './wireguard';

export type MeshRole = 'node' | 'user';

export interface MeshMember {
  /** Inventory / agent node name, e.g. node-a. */
  name: string;
  role: MeshRole;
  ns: Namespace;
  wg: WireGuardInterface;
  underlayIp: string;
}

export interface Host {
  name: string;
  ns: Namespace;
  ip: string;
}

export interface MeshLab {
  lab: Lab;
  members: MeshMember[];
  byName: (name: string) => MeshMember;
  lanHost: Host;
  inetHost: Host;
  /** Address of the root namespace on the underlay (10.203.N.254). */
  hostIp: string;
  /** First three octets of this lab's underlay /24 (10.203.N). */
  underlayPrefix: string;
  /** Prefixes routed through the gateway. */
  lanCidr: string;
  egressCidr: string;
  /** TCP ports node-b silently drops. */
  blockedPorts: readonly number[];
  /** An inventory node with no machine behind it (no WireGuard peer, no agent). */
  absentNode: { name: string; ip: string };
  /** A second address of the internet host, for "first contact" traffic. */
  freshInetIp: string;
}

export const MESH_PLAN = {
  /** Underlays are 10.203.N.0/24, N claimed per lab; the root namespace is .254 on it. */
  underlayBase: '10.203',
  maxUnderlays: 64,
  hostOctet: 254,
  tunnelPrefix: '100.64.0',
  lanCidr: '192.168.50.0/24',
  gwLanIp: '192.168.50.1',
  lanHostIp: '192.168.50.10',
  egressCidr: '203.0.113.0/24',
  gwEgressIp: '203.0.113.1',
  inetHostIp: '203.0.113.10',
  freshInetIp: '203.0.113.20',
  blockedPorts: [5432],
  absentNode: { name: 'node-c', octet: 20 },
  members: [
    { name: 'node-a', role: 'node', short: 'a', octet: 1 },
    { name: 'node-b', role: 'node', short: 'b', octet: 2 },
    { name: 'gw', role: 'node', short: 'gw', octet: 3 },
    { name: 'laptop', role: 'user', short: 'u', octet: 10 },
  ],
} as const;

const CLAIM_DIR = '/run/flowmesh-lab';

/**
 * Claims a free underlay /24 for this lab: an exclusively created claim file per subnet
 * (released on tear-down; a claim whose process is gone is taken over) and no root-namespace
 * address in it already. Returns its first three octets.
 */
function claimUnderlay(lab: Lab): string {
  const { underlayBase, maxUnderlays } = MESH_PLAN;
  mkdirSync(CLAIM_DIR, { recursive: true });
  const rootAddresses = runSync('ip', ['-br', 'addr']);
  for (let n = 0; n < maxUnderlays; n += 1) {
    const prefix = `${underlayBase}.${n}`;
    const claim = join(CLAIM_DIR, `underlay-${prefix}`);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fd = openSync(claim, 'wx');
        writeSync(fd, `${process.pid} ${lab.id}\n`);
        closeSync(fd);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = Number(readFileSync(claim, 'utf8').split(' ')[0]);
        if (processAlive(owner)) break;
        unlinkSync(claim); // left by a process that no longer exists
        continue;
      }
      if (rootAddresses.includes(` ${prefix}.`)) {
        unlinkSync(claim); // in use by something that is not a lab
        break;
      }
      lab.track(`underlay claim ${prefix}`, () => unlinkSync(claim));
      return prefix;
    }
  }
  throw new Error(`no free underlay subnet among ${underlayBase}.0-${maxUnderlays - 1}.0/24 (claims in ${CLAIM_DIR}; leftovers: lab/scripts/cleanup)`);
}

/** Builds the mesh lab topology inside `lab` (root only). */
export function buildMeshLab(lab: Lab): MeshLab {
  const plan = MESH_PLAN;
  const underlayPrefix = claimUnderlay(lab);
  const hostIp = `${underlayPrefix}.${plan.hostOctet}`;
  const underlay = lab.namespace('ul');
  const bridge = lab.bridge(underlay, 'br');
  const [, hostPort] = lab.veth(null, 'host', `${hostIp}/24`, underlay, 'host-p', null);
  lab.attach(underlay, hostPort, bridge);

  const members: MeshMember[] = plan.members.map((m) => {
    const ns = lab.namespace(m.short);
    const underlayIp = `${underlayPrefix}.${m.octet}`;
    const [, port] = lab.veth(ns, `${m.short}-u`, `${underlayIp}/24`, underlay, `${m.short}-p`, null);
    lab.attach(underlay, port, bridge);
    const wg = addWireGuard(lab, ns, `${m.short}-wg`, { cidr: `${plan.tunnelPrefix}.${m.octet}/24`, endpointIp: underlayIp });
    return { name: m.name, role: m.role, ns, wg, underlayIp };
  });
  const byName = (name: string): MeshMember => {
    const found = members.find((m) => m.name === name);
    if (!found) throw new Error(`no mesh member "${name}"`);
    return found;
  };

  const gw = byName('gw');
  fullMesh(members.map((m) => m.wg), new Map([[gw.wg, [plan.lanCidr, plan.egressCidr]]]));
  for (const m of members) {
    if (m === gw) continue;
    m.ns.addRoute(plan.lanCidr, { dev: m.wg.name });
    m.ns.addRoute(plan.egressCidr, { dev: m.wg.name });
  }

  gw.ns.enableForwarding();
  const lanNs = lab.namespace('lan');
  lab.veth(gw.ns, 'gw-lan', `${plan.gwLanIp}/24`, lanNs, 'lan-e', `${plan.lanHostIp}/24`);
  lanNs.addRoute('default', { gateway: plan.gwLanIp });
  const inetNs = lab.namespace('inet');
  const [gwEgress, inetEnd] = lab.veth(gw.ns, 'gw-out', `${plan.gwEgressIp}/24`, inetNs, 'inet-e', `${plan.inetHostIp}/24`);
  inetNs.addAddress(inetEnd, `${plan.freshInetIp}/24`);
  gw.ns.nft(
    `table ip fm_lab_nat {\n  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n    oifname "${gwEgress}" masquerade\n  }\n}\n`,
  );

  byName('node-b').ns.dropInboundTcp(plan.blockedPorts);

  return {
    lab,
    members,
    byName,
    lanHost: { name: 'files', ns: lanNs, ip: plan.lanHostIp },
    inetHost: { name: 'example-net', ns: inetNs, ip: plan.inetHostIp },
    hostIp,
    underlayPrefix,
    lanCidr: plan.lanCidr,
    egressCidr: plan.egressCidr,
    blockedPorts: plan.blockedPorts,
    absentNode: { name: plan.absentNode.name, ip: `${plan.tunnelPrefix}.${plan.absentNode.octet}` },
    freshInetIp: plan.freshInetIp,
  };
}
