/**
 * The mesh lab's traffic generator: long-running services (HTTP on node-a, the LAN host and
 * the internet host; DNS on the LAN host) and rounds of a fixed traffic mix between mesh
 * members, so every dashboard panel and troubleshooting question has something to show:
 * node-to-node and user-to-node HTTP, DNS lookups followed by connections to the answer,
 * ping, a firewalled port (SYN only), a refused port (SYN then RST), a connection reset by
 * its client, a SYN to an inventory node that does not exist (seen at one end only),
 * site-to-LAN and internet egress through the gateway, and every member both initiating and
 * receiving something (so each node's dashboard has inbound and outbound traffic).
 */
import type { MeshLab } from './mesh';
import { ping, runClient, startServer, tcpConnect, type ToolResult } from './traffic';

export const SERVICE_PORTS = { http: 8080, dns: 53, refused: 3306 } as const;

/** Names the LAN DNS server answers (A records). */
export function dnsRecords(mesh: MeshLab): Record<string, string> {
  return {
    'files.corp.internal': mesh.lanHost.ip,
    'api.node-a.mesh.internal': mesh.byName('node-a').wg.ip,
    'db.node-b.mesh.internal': mesh.byName('node-b').wg.ip,
    'example.net': mesh.inetHost.ip,
  };
}

/** Starts the lab's services; they stop by themselves after `lifetimeMs` (and with the lab). */
export async function startServices(mesh: MeshLab, lifetimeMs: number): Promise<void> {
  const common = { timeout: lifetimeMs, count: 10_000_000 };
  const records = Object.entries(dnsRecords(mesh)).map(([name, ip]) => `${name}=${ip}`).join(',');
  const nodeA = mesh.byName('node-a');
  await Promise.all([
    startServer(nodeA.ns, 'http-serve', { host: nodeA.wg.ip, port: SERVICE_PORTS.http, ...common }),
    startServer(mesh.lanHost.ns, 'http-serve', { host: mesh.lanHost.ip, port: SERVICE_PORTS.http, ...common }),
    startServer(mesh.inetHost.ns, 'http-serve', { host: mesh.inetHost.ip, port: SERVICE_PORTS.http, ...common }),
    startServer(mesh.inetHost.ns, 'http-serve', { host: mesh.freshInetIp, port: SERVICE_PORTS.http, ...common }),
    startServer(mesh.lanHost.ns, 'dns-serve', { host: mesh.lanHost.ip, port: SERVICE_PORTS.dns, records, ...common }),
  ]);
}

export interface StepOutcome {
  step: string;
  ok: boolean;
  detail: string;
}

/** One round of the traffic mix; each step reports whether the network behaved as designed. */
export async function trafficRound(mesh: MeshLab): Promise<StepOutcome[]> {
  const laptop = mesh.byName('laptop');
  const nodeA = mesh.byName('node-a');
  const nodeB = mesh.byName('node-b');
  const gw = mesh.byName('gw');
  const dns = mesh.lanHost.ip;
  const http = SERVICE_PORTS.http;
  const outcomes: StepOutcome[] = [];
  const step = async (name: string, run: () => Promise<[boolean, string]>) => {
    try {
      const [ok, detail] = await run();
      outcomes.push({ step: name, ok, detail });
    } catch (error) {
      outcomes.push({ step: name, ok: false, detail: (error as Error).message });
    }
  };
  const resolveThenGet = async (client: typeof laptop, name: string, bytes: number): Promise<[boolean, string]> => {
    const answer = await runClient(client.ns, 'dns-query', { server: dns, port: SERVICE_PORTS.dns, name, timeout: 3000 });
    if (typeof answer.address !== 'string') return [false, `DNS ${name}: ${JSON.stringify(answer)}`];
    const got = await httpGet(client, `http://${answer.address}:${http}/bytes/${bytes}`);
    return [got.bytes === bytes, `${name} -> ${answer.address}, ${String(got.bytes)} bytes`];
  };

  await step('laptop -> LAN file server (DNS + HTTP via gw)', () => resolveThenGet(laptop, 'files.corp.internal', 200_000));
  await step('laptop -> node-a API (DNS + HTTP)', () => resolveThenGet(laptop, 'api.node-a.mesh.internal', 50_000));
  await step('node-b -> node-a bulk HTTP', async () => {
    const got = await httpGet(nodeB, `http://${nodeA.wg.ip}:${http}/bytes/1000000`);
    return [got.bytes === 1_000_000, `${String(got.bytes)} bytes`];
  });
  await step('laptop -> internet host (DNS + HTTP, egress via gw)', () => resolveThenGet(laptop, 'example.net', 100_000));
  await step('node-a -> LAN (site-to-LAN HTTP)', async () => {
    const got = await httpGet(nodeA, `http://${mesh.lanHost.ip}:${http}/bytes/30000`);
    return [got.bytes === 30_000, `${String(got.bytes)} bytes`];
  });
  await step('laptop ping node-b', async () => {
    const r = await ping(laptop.ns, nodeB.wg.ip, 3);
    return [r.received === 3, `${r.received}/${r.transmitted} answered`];
  });
  await step('gw -> node-a HTTP (the gateway as a client)', async () => {
    const got = await httpGet(gw, `http://${nodeA.wg.ip}:${http}/bytes/20000`);
    return [got.bytes === 20_000, `${String(got.bytes)} bytes`];
  });
  await step('laptop ping gw', async () => {
    const r = await ping(laptop.ns, gw.wg.ip, 1);
    return [r.received === 1, `${r.received}/${r.transmitted} answered`];
  });
  await step('node-b ping laptop', async () => {
    const r = await ping(nodeB.ns, laptop.wg.ip, 1);
    return [r.received === 1, `${r.received}/${r.transmitted} answered`];
  });
  await step(`laptop -> node-a:${http} reset by the client (RSTO)`, async () => {
    const outcome = await tcpConnect(laptop.ns, nodeA.wg.ip, http, 700, true);
    return [outcome === 'reset', outcome];
  });
  await step(`node-a -> ${mesh.absentNode.name} (no such machine: SYN only, seen by node-a alone)`, async () => {
    const outcome = await tcpConnect(nodeA.ns, mesh.absentNode.ip, 443);
    return [outcome === 'timeout', outcome];
  });
  await step(`laptop -> node-b:${mesh.blockedPorts[0]} (firewalled: SYN only)`, async () => {
    const outcome = await tcpConnect(laptop.ns, nodeB.wg.ip, mesh.blockedPorts[0]);
    return [outcome === 'timeout', outcome];
  });
  await step(`laptop -> node-a:${SERVICE_PORTS.refused} (closed: SYN, RST)`, async () => {
    const outcome = await tcpConnect(laptop.ns, nodeA.wg.ip, SERVICE_PORTS.refused);
    return [outcome === 'refused', outcome];
  });
  return outcomes;
}

async function httpGet(client: { ns: MeshLab['lanHost']['ns'] }, url: string): Promise<ToolResult> {
  return runClient(client.ns, 'http-get', { url, timeout: 10_000 });
}
