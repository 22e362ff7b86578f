/**
 * Agents on the mesh lab: one per mesh member, capturing on its WireGuard interface, naming
 * addresses from a shared inventory, serving its API on its underlay address (reachable from
 * the root namespace through the host veth), all with one bearer token.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_CLI, startAgent, waitForHealth, type AgentProcess } from './agent';
import type { MeshLab, MeshMember } from './mesh';
import { runAsync } from './run';

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
  byName: (name: string) => MeshAgent;
}

/** Flow-table timeouts (agent config `flows` section), in seconds. */
export interface FlowTimeoutsConfig {
  active_timeout_s: number;
  tcp_linger_s: number;
  idle_timeout_s: { tcp: number; tcp_unestablished: number; udp: number; icmp: number; other: number };
}

/**
 * The lab's default timeouts: shorter than production so connections show up in Grafana
 * within seconds (interim records every 10 s, a failed handshake ends after 10 s).
 */
export const LAB_TIMEOUTS: FlowTimeoutsConfig = {
  active_timeout_s: 10,
  tcp_linger_s: 2,
  idle_timeout_s: { tcp: 60, tcp_unestablished: 10, udp: 15, icmp: 10, other: 15 },
};

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
  addresses[mesh.absentNode.ip] = { name: mesh.absentNode.name, type: 'node' };
  addresses[mesh.inetHost.ip] = { name: 'example-net', type: 'external' };
  return { addresses, wireguard_peers: peers };
}

/**
 * Starts an agent on every mesh member and waits until each answers /health. `history`:
 * capture files (member name -> files) imported into that member's store first, as its own
 * earlier traffic (its tunnel address is its local address), e.g. a capture with shifted
 * timestamps standing for yesterday.
 */
export async function startMeshAgents(
  mesh: MeshLab,
  options: { token?: string; timeouts?: FlowTimeoutsConfig; extraArgs?: string[]; history?: Record<string, string[]> } = {},
): Promise<MeshAgents> {
  const token = options.token ?? randomBytes(16).toString('hex');
  const inventoryFile = join(mesh.lab.workDir, 'inventory.json');
  writeFileSync(inventoryFile, `${JSON.stringify(meshInventory(mesh), null, 2)}\n`);
  const configFile = join(mesh.lab.workDir, 'agent-config.json');
  writeFileSync(configFile, `${JSON.stringify({ flows: options.timeouts ?? LAB_TIMEOUTS }, null, 2)}\n`);
  const dataDir = (member: MeshMember) => join(mesh.lab.workDir, `data-${member.name}`);
  const common = (member: MeshMember) => ['--config', configFile, '--node', member.name, '--inventory', inventoryFile, '--data-dir', dataDir(member)];
  for (const [name, files] of Object.entries(options.history ?? {})) {
    const member = mesh.byName(name);
    const args = [AGENT_CLI, 'import', ...files, ...common(member), '--local-address', `${member.wg.ip}/32`, '--log-level', 'warn'];
    const imported = await runAsync(process.execPath, args, { timeoutMs: 30_000 });
    if (imported.code !== 0) throw new Error(`importing ${files.join(', ')} into ${name}'s store failed (${imported.code}): ${imported.stderr}`);
  }
  const agents = mesh.members.map((member): MeshAgent => {
    const listen = `${member.underlayIp}:${AGENT_PORT}`;
    const args = ['run', ...common(member), '--interface', member.wg.name, '--listen', listen, '--token', token, ...(options.extraArgs ?? [])];
    return { member, process: startAgent(member.ns, args, `agent-${member.name}.log`), url: `http://${listen}` };
  });
  await Promise.all(agents.map((a) => waitForHealth(a.process, `${a.url}/health`)));
  const byName = (name: string): MeshAgent => {
    const found = agents.find((a) => a.member.name === name);
    if (!found) throw new Error(`no agent "${name}"`);
    return found;
  };
  return { agents, token, inventoryFile, byName };
}

/** Every flow record an agent holds in [fromMs, toMs) matching `filters` (agent query model), following cursors (bounded). */
export async function queryFlows<R>(agent: MeshAgent, token: string, fromMs: number, toMs: number, filters: object[] = []): Promise<R[]> {
  const records: R[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page += 1) {
    const body = { kind: 'flows', from: fromMs, to: toMs, filters, order: 'oldest', limit: 1000, ...(cursor ? { cursor } : {}) };
    const res = await fetch(`${agent.url}/api/v1/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`query to ${agent.member.name} failed: HTTP ${res.status} ${await res.text()}`);
    const result = (await res.json()) as { records: R[]; next_cursor: string | null };
    records.push(...result.records);
    cursor = result.next_cursor;
    if (!cursor) return records;
  }
  throw new Error(`query to ${agent.member.name}: more than 100 pages`);
}
