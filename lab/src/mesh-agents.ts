/**
 * Agents on the mesh lab: one per mesh member, capturing on its WireGuard interface, naming
 * addresses from a shared inventory, serving its API on its underlay address (reachable from
 * the root namespace through the host veth), all with one bearer token.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAgent, waitForHealth, type AgentProcess } from './agent';
import type { MeshLab, MeshMember } from './mesh';

export const AGENT_PORT = 9477;

export interface MeshAgent {
  member: MeshMember;
  process: AgentProcess;
  /** Base URL of the agent's HTTP API (the data source's agent URL). */
  url: string;
}

export interface MeshAgents {
  agents: MeshAgent[];
  token: string;
  inventoryFile: string;
}

/** The inventory every agent loads (agent/src/inventory format): mesh addresses, LAN, internet host, WireGuard peers. */
export function meshInventory(mesh: MeshLab): object {
  const addresses: Record<string, { name: string; type: string }> = {};
  const peers: Record<string, { name: string; type: string }> = {};
  for (const m of mesh.members) {
    addresses[m.wg.ip] = { name: m.name, type: m.role };
    peers[m.wg.publicKey] = { name: m.name, type: m.role };
  }
  addresses[mesh.lanCidr] = { name: 'office-lan', type: 'egress' };
  addresses[mesh.lanHost.ip] = { name: 'files.corp', type: 'egress' };
  addresses[mesh.inetHost.ip] = { name: 'example-net', type: 'external' };
  return { addresses, wireguard_peers: peers };
}

/** Starts an agent on every mesh member and waits until each answers /health. */
export async function startMeshAgents(mesh: MeshLab, options: { token?: string; extraArgs?: string[] } = {}): Promise<MeshAgents> {
  const token = options.token ?? randomBytes(16).toString('hex');
  const inventoryFile = join(mesh.lab.workDir, 'inventory.json');
  writeFileSync(inventoryFile, `${JSON.stringify(meshInventory(mesh), null, 2)}\n`);
  const agents = mesh.members.map((member): MeshAgent => {
    const listen = `${member.underlayIp}:${AGENT_PORT}`;
    const args = [
      'run', '--interface', member.wg.name, '--node', member.name, '--listen', listen, '--token', token,
      '--inventory', inventoryFile, '--data-dir', join(mesh.lab.workDir, `data-${member.name}`), ...(options.extraArgs ?? []),
    ];
    return { member, process: startAgent(member.ns, args, `agent-${member.name}.log`), url: `http://${listen}` };
  });
  await Promise.all(agents.map((a) => waitForHealth(a.process, `${a.url}/health`)));
  return { agents, token, inventoryFile };
}
