/**
 * End-to-end (root, CI): the mesh lab (nodes, a gateway with a LAN and an internet host, a
 * user's laptop) with an agent capturing on every member, one round of the traffic mix, then
 * the questions an operator asks in Grafana, answered through the REAL plugin backend
 * executable (plugin/dist/gpx_flowmesh_linux_amd64 launched over go-plugin, gRPC QueryData /
 * CheckHealth / CallResource) federating all four agents:
 *  - health: every agent ok;
 *  - node-b -> node-a on TCP 443 (a known exchange: 20 000 bytes up, 60 000 down): outbound on
 *    node-b, inbound on node-a, one record each, same Community ID, counters mirrored exactly;
 *  - laptop -> LAN file server: forwarded on the gateway, source named "laptop";
 *  - top talkers: dedupe "connection" counts each connection once; dedupe "none" exceeds it
 *    by exactly the bytes of the second reports (oracle: every record of every agent);
 *  - firewalled port: SYN only, nothing back, S0; closed port: SYN then RST, REJ;
 *  - each agent's Prometheus counters equal what it stored (asked directly and via the plugin);
 *  - the provisioned alert rules (traffic spike, failed-connection spike) evaluated through the
 *    backend: not firing after the normal mix, firing for exactly the nodes of a generated spike.
 * Determinism: every check runs once the agents have settled (flow tables empty, nothing
 * waiting to be written, store rows = rows written), so totals no longer move; short flow
 * timeouts make that happen within seconds. Everything is torn down, also on failure.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { agentBuilt, AGENT_CLI } from '../src/agent';
import { agentSummary, scrapeMetrics, sumOf, waitUntilSettled, type AgentTally } from '../src/e2e/agent-state';
import { evaluateRule, loadAlertRules, type AlertRule, type RuleEvaluation } from '../src/e2e/alerting';
import {
  BACKEND_EXECUTABLE, buildDriver, frameRows, goBinary, newestBackendSourceMs, notices, PluginBackend, type TimeRange,
} from '../src/e2e/plugin-backend';
import { buildMeshLab, type MeshLab } from '../src/mesh';
import { startMeshAgents, type FlowTimeoutsConfig, type MeshAgents } from '../src/mesh-agents';
import { SERVICE_PORTS, startServices, trafficRound, type StepOutcome } from '../src/mesh-traffic';
import { Lab } from '../src/netns';
import { runSync } from '../src/run';
import { runClient, tcpTransfer, type TcpTransferResult } from '../src/traffic';
import { describePrivileged } from './privileged';

/** No interim records within the test (active 120 s); ended flows leave the table within ~2 s. */
const TIMEOUTS: FlowTimeoutsConfig = {
  active_timeout_s: 120,
  tcp_linger_s: 1,
  idle_timeout_s: { tcp: 60, tcp_unestablished: 2, udp: 2, icmp: 2, other: 2 },
};
const RULES_FILE = resolve(__dirname, '..', '..', 'provisioning', 'grafana', 'alerting', 'flowmesh-rules.yaml');
const DATASOURCE_UID = 'flowmesh';
/** The traffic-spike rule fires above 10 MiB in 5 minutes per node: the spike moves 24 MiB. */
const SPIKE_BYTES = 24 * 1024 * 1024;
/** The failed-connection rule fires above 50 per node in 5 minutes: the burst makes 60. */
const BURST_ATTEMPTS = 60;
/** The node-to-node exchange checked for mirrored counters: small, so no tunnel queue can overflow and drop a segment. */
const EXCHANGE = { port: 443, up: 20_000, down: 60_000 } as const;
const BURST_SCRIPT = resolve(__dirname, '..', 'src', 'e2e', 'connect-burst.js');
const DIRECTION_RANK: Record<string, number> = { outbound: 0, forwarded: 1, inbound: 2 };

type Row = Record<string, unknown>;

describePrivileged('end-to-end: mesh lab -> agents -> plugin backend executable', () => {
  let lab: Lab | undefined;
  let mesh: MeshLab;
  let agents: MeshAgents | undefined;
  let backend: PluginBackend | undefined;
  let outcomes: StepOutcome[] = [];
  let exchange: TcpTransferResult;
  let settled: AgentTally[] = [];
  let rules: Map<string, AlertRule>;
  const startMs = Date.now();
  const range = (): TimeRange => ({ from: startMs - 60_000, to: Date.now() + 60_000 });
  const members = () => mesh.members.map((m) => m.name).sort();
  const ip = (name: string) => mesh.byName(name).wg.ip;

  /** Flows rows through the plugin and the frame's notices (one page holds all: the lab makes well under 10000 records). */
  async function flowsPage(query: object): Promise<{ rows: Row[]; notices: string[] }> {
    const [frame] = await (backend as PluginBackend).frames({ queryType: 'flows', limit: 10000, order: 'oldest', dedupe: 'none', ...query }, range());
    expect(frame.schema.meta?.custom?.nextCursor).toBe('');
    return { rows: frameRows(frame), notices: notices([frame]) };
  }

  /** Flows rows; every agent answered (no notice at all). */
  async function flows(query: object): Promise<Row[]> {
    const page = await flowsPage(query);
    expect(page.notices).toEqual([]);
    return page.rows;
  }

  async function top(groupBy: string[], metric: string, dedupe: string): Promise<Map<string, number>> {
    const [frame] = await (backend as PluginBackend).frames({ queryType: 'top', groupBy, metric, dedupe, limit: 0 }, range());
    expect(notices([frame])).toEqual([]);
    expect(frame.schema.meta?.custom?.otherGroups).toBe(0);
    return new Map(frameRows(frame).map((r) => [groupBy.map((d) => String(r[d])).join(' -> '), Number(r[metric])]));
  }

  async function evaluate(uid: string): Promise<RuleEvaluation> {
    const rule = rules.get(uid);
    if (!rule) throw new Error(`no alert rule ${uid} in ${RULES_FILE}`);
    return evaluateRule(rule, DATASOURCE_UID, (queries, r, headers) => (backend as PluginBackend).query(queries, r, headers));
  }

  const byNode = (evaluation: RuleEvaluation, refId: string) =>
    Object.fromEntries((evaluation.numbers.get(refId) ?? []).map((n) => [n.labels.node, n.value]));
  const firingNodes = (evaluation: RuleEvaluation) => evaluation.firing.map((l) => l.node).sort();

  beforeAll(async () => {
    if (!agentBuilt()) throw new Error(`the agent is not built (${AGENT_CLI} missing): run \`npm run build -w agent\``);
    if (!existsSync(BACKEND_EXECUTABLE)) {
      throw new Error(`the plugin backend is not built (${BACKEND_EXECUTABLE} missing): run \`bash scripts/build-plugin-backend.sh --host-only\``);
    }
    if (statSync(BACKEND_EXECUTABLE).mtimeMs < newestBackendSourceMs()) {
      console.warn(`!!! ${BACKEND_EXECUTABLE} is older than plugin/pkg sources: testing a stale build (bash scripts/build-plugin-backend.sh --host-only)`);
    }
    const go = goBinary();
    if (!go) throw new Error('Go is not installed (needed to build the e2e driver plugin/test/e2e/driver)');
    rules = loadAlertRules(RULES_FILE);

    lab = new Lab();
    const driverBuild = buildDriver(go, lab.workDir);
    driverBuild.catch(() => undefined); // awaited below; a failure must not be an unhandled rejection meanwhile
    mesh = buildMeshLab(lab);
    await startServices(mesh, 170_000);
    agents = await startMeshAgents(mesh, { timeouts: TIMEOUTS });
    const jsonData = { agents: agents.agents.map((a) => ({ name: a.member.name, url: a.url })), timeoutMs: 30_000 };
    backend = await PluginBackend.start(lab, await driverBuild, { jsonData, secureJsonData: { token: agents.token } });
    outcomes = await trafficRound(mesh);
    exchange = await tcpTransfer(mesh.byName('node-b').ns, mesh.byName('node-a').ns, ip('node-a'), EXCHANGE.port, EXCHANGE.up, EXCHANGE.down);
    settled = await waitUntilSettled(agents.agents, agents.token);
  }, 150_000);

  afterAll(async () => {
    await backend?.stop().catch(() => undefined);
    if (agents) await Promise.all(agents.agents.map((a) => a.process.stop().catch(() => undefined)));
    lab?.destroy();
  });

  test('the traffic mix behaved as designed (precondition of every exact check)', () => {
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    for (const t of settled) expect([t.node, sumOf(t.metrics, 'flowmesh_capture_kernel_drops_total')]).toEqual([t.node, 0]);
  });

  test('CheckHealth and the agents / values resources: every agent ok and reporting', async () => {
    const b = backend as PluginBackend;
    const health = await b.health();
    expect(health.status).toBe('OK');
    expect((health.details?.agents ?? []).map((a) => `${a.name}: ${a.status}`).sort()).toEqual(members().map((n) => `${n}: ok`));
    const res = await b.resource('GET', 'agents');
    expect(res.status).toBe(200);
    const listed = (JSON.parse(res.body) as { agents: { name: string; ok: boolean }[] }).agents;
    expect(listed.filter((a) => a.ok).map((a) => a.name).sort()).toEqual(members());
    // The editor's value suggestions: every reporting node, with its connection count as stored.
    const { from, to } = range();
    const values = await b.resource('POST', 'values', { dimension: 'node', from, to });
    expect(values.status).toBe(200);
    const suggested = JSON.parse(values.body) as { values: { value: string; count: number }[]; complete: boolean };
    expect(suggested.values.map((v) => v.value).sort()).toEqual(members());
    expect(suggested.complete).toBe(true);
  });

  test('node-b -> node-a on TCP 443: outbound on node-b, inbound on node-a, counters mirrored exactly', async () => {
    expect([exchange.clientSent, exchange.serverReceived, exchange.clientReceived]).toEqual([EXCHANGE.up, EXCHANGE.up, EXCHANGE.down]);
    const filters = [
      { field: 'protocol', op: 'eq', value: 'tcp' },
      { field: 'src_ip', op: 'eq', value: ip('node-b') },
      { field: 'dst_ip', op: 'eq', value: ip('node-a') },
      { field: 'dst_port', op: 'eq', value: EXCHANGE.port },
    ];
    const rows = await flows({ filters });
    expect(rows.map((r) => `${String(r.node)} ${String(r.direction)}`).sort()).toEqual(['node-a inbound', 'node-b outbound']);
    const client = rows.find((r) => r.node === 'node-b') as Row;
    const server = rows.find((r) => r.node === 'node-a') as Row;
    const counters = (r: Row) => [r.community_id, r.src_port, r.bytes_tx, r.bytes_rx, r.packets_tx, r.packets_rx, r.tcp_flags_src, r.tcp_flags_dst, r.conn_state];
    expect(counters(server)).toEqual(counters(client));
    expect([client.src_port, client.conn_state, client.tcp_flags_src]).toEqual([exchange.clientPort, 'SF', 'FIN,SYN,PSH,ACK']);
    // IP-layer bytes = payload + 40..60 header bytes per packet (IPv4 + TCP with options).
    for (const [sent, payload, packets] of [[client.bytes_tx, EXCHANGE.up, client.packets_tx], [client.bytes_rx, EXCHANGE.down, client.packets_rx]] as number[][]) {
      expect(sent - payload).toBeGreaterThanOrEqual(40 * packets);
      expect(sent - payload).toBeLessThanOrEqual(60 * packets);
    }
    // Deduplicated, the connection is one row: the initiator's report.
    const deduped = await flowsPage({ filters, dedupe: 'connection' });
    expect(deduped.rows.map((r) => [r.node, r.direction, r.bytes_tx, r.bytes_rx])).toEqual([['node-b', 'outbound', client.bytes_tx, client.bytes_rx]]);
    expect(deduped.notices).toEqual(['info: Dedupe connection: 1 records of connections also reported by another agent were hidden on this page']);
  });

  test("laptop -> LAN file server: forwarded on the gateway under the user's name", async () => {
    const rows = await flows({
      filters: [
        { field: 'protocol', op: 'eq', value: 'tcp' },
        { field: 'src_ip', op: 'eq', value: ip('laptop') },
        { field: 'dst_ip', op: 'eq', value: mesh.lanHost.ip },
        { field: 'dst_port', op: 'eq', value: SERVICE_PORTS.http },
      ],
    });
    expect(rows.map((r) => `${String(r.node)} ${String(r.direction)}`).sort()).toEqual(['gw forwarded', 'laptop outbound']);
    const atGateway = rows.find((r) => r.node === 'gw') as Row;
    expect(atGateway.source).toBe(`laptop (${ip('laptop')}:${String(atGateway.src_port)})`);
    expect(atGateway.destination).toBe(`files.corp (${mesh.lanHost.ip}:${SERVICE_PORTS.http})`);
    expect(atGateway.dst_domain).toBe('files.corp.internal');
    // The operator's filter "source name = laptop" on the gateway finds that connection.
    const named = await flows({
      agents: ['gw'],
      filters: [{ field: 'src_name', op: 'eq', value: 'laptop' }, { field: 'direction', op: 'eq', value: 'forwarded' }],
    });
    expect(named.filter((r) => r.flow_id === atGateway.flow_id)).toHaveLength(1);
    expect(new Set(named.map((r) => r.src_ip))).toEqual(new Set([ip('laptop')]));
  });

  test('top talkers: dedupe "connection" counts each connection once; "none" exceeds it by exactly the second reports', async () => {
    const records = await flows({});
    // Every (connection, reporter) is one record here (no interim records within the test).
    const reports = new Map<string, Row[]>();
    for (const r of records) reports.set(String(r.community_id), [...(reports.get(String(r.community_id)) ?? []), r]);
    for (const [id, rs] of reports) expect([id, new Set(rs.map((r) => r.node)).size]).toEqual([id, rs.length]);
    const bytes = (r: Row) => Number(r.bytes_tx) + Number(r.bytes_rx);
    const pair = (r: Row) => `${String(r.src_ip)} -> ${String(r.dst_ip)}`;
    const preferred = (rs: Row[]) =>
      [...rs].sort((x, y) => DIRECTION_RANK[String(x.direction)] - DIRECTION_RANK[String(y.direction)] || String(x.node).localeCompare(String(y.node)))[0];
    const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
    const wantNone = new Map<string, number>();
    const wantOnce = new Map<string, number>();
    const wantFlowsOnce = new Map<string, number>();
    let secondReports = 0;
    for (const rs of reports.values()) {
      for (const r of rs) add(wantNone, pair(r), bytes(r));
      const kept = preferred(rs);
      add(wantOnce, pair(kept), bytes(kept));
      add(wantFlowsOnce, pair(kept), 1);
      secondReports += rs.filter((r) => r !== kept).reduce((acc, r) => acc + bytes(r), 0);
    }
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    const none = await top(['src_ip', 'dst_ip'], 'bytes', 'none');
    const once = await top(['src_ip', 'dst_ip'], 'bytes', 'connection');
    expect(none).toEqual(wantNone);
    expect(once).toEqual(wantOnce);
    expect(secondReports).toBeGreaterThan(0);
    expect(total(none) - total(once)).toBe(secondReports);
    // The node-to-node exchange, reported by both ends with mirrored bytes: exactly double.
    const service = `${ip('node-a')} -> ${EXCHANGE.port}`;
    const serviceOnce = (await top(['dst_ip', 'dst_port'], 'bytes', 'connection')).get(service) as number;
    expect((await top(['dst_ip', 'dst_port'], 'bytes', 'none')).get(service)).toBe(2 * serviceOnce);
    expect(serviceOnce).toBeGreaterThan(EXCHANGE.up + EXCHANGE.down);
    expect(await top(['src_ip', 'dst_ip'], 'flows', 'connection')).toEqual(wantFlowsOnce);
  });

  test('firewalled port: SYN only and nothing back (S0); closed port: SYN then RST (REJ); at both ends', async () => {
    const look = (r: Row) => [r.node, r.direction, r.tcp_flags_src, r.tcp_flags_dst, r.conn_state];
    const blocked = await flows({ filters: [{ field: 'dst_port', op: 'eq', value: mesh.blockedPorts[0] }] });
    expect(blocked.map(look).sort()).toEqual([
      ['laptop', 'outbound', 'SYN', '', 'S0'],
      ['node-b', 'inbound', 'SYN', '', 'S0'],
    ]);
    expect(blocked.map((r) => [r.packets_rx, r.bytes_rx])).toEqual([[0, 0], [0, 0]]);
    expect(new Set(blocked.map((r) => r.community_id)).size).toBe(1);
    const refused = await flows({ filters: [{ field: 'dst_port', op: 'eq', value: SERVICE_PORTS.refused }] });
    expect(refused.map(look).sort()).toEqual([
      ['laptop', 'outbound', 'SYN', 'RST,ACK', 'REJ'],
      ['node-a', 'inbound', 'SYN', 'RST,ACK', 'REJ'],
    ]);
  });

  test("each agent's Prometheus counters equal its stored totals (direct and through the plugin)", async () => {
    const b = backend as PluginBackend;
    const a = agents as MeshAgents;
    let sumAll = 0;
    for (const agent of a.agents) {
      const metrics = await scrapeMetrics(agent);
      const stored = await agentSummary(agent, a.token);
      const counted = {
        bytes: sumOf(metrics, 'flowmesh_traffic_bytes_total'),
        packets: sumOf(metrics, 'flowmesh_traffic_packets_total'),
        flows: sumOf(metrics, 'flowmesh_flows_started_total'),
      };
      expect([agent.member.name, counted]).toEqual([agent.member.name, { bytes: stored.total.bytes, packets: stored.total.packets, flows: stored.total.flows }]);
      expect(counted.bytes).toBeGreaterThan(0);
      const [frame] = await b.frames({ queryType: 'summary', agents: [agent.member.name], dedupe: 'none' }, { from: 0, to: Date.now() + 60_000 });
      expect([agent.member.name, frameRows(frame)[0].bytes]).toEqual([agent.member.name, counted.bytes]);
      sumAll += counted.bytes;
    }
    const [all] = await b.frames({ queryType: 'summary', dedupe: 'none' }, { from: 0, to: Date.now() + 60_000 });
    expect(frameRows(all)[0].bytes).toBe(sumAll);
  });

  test('traffic-spike rule: quiet after the normal mix, fires for exactly node-a and node-b during a 24 MiB transfer', async () => {
    const before = await evaluate('flowmesh-traffic-spike');
    expect(Object.keys(byNode(before, 'C')).sort()).toEqual(members()); // every node reported traffic, all below the line
    expect(before.firing).toEqual([]);

    const got = await runClient(mesh.byName('node-b').ns, 'http-get', { url: `http://${ip('node-a')}:${SERVICE_PORTS.http}/bytes/${SPIKE_BYTES}`, timeout: 60_000 });
    expect(got.bytes).toBe(SPIKE_BYTES);
    await waitUntilSettled((agents as MeshAgents).agents, (agents as MeshAgents).token);

    const after = await evaluate('flowmesh-traffic-spike');
    expect(firingNodes(after)).toEqual(['node-a', 'node-b']);
    const moved = byNode(after, 'C');
    expect(moved['node-a'] as number).toBeGreaterThan(SPIKE_BYTES);
    expect(moved.laptop).toBe(byNode(before, 'C').laptop);
  }, 90_000);

  test('failed-connection rule: quiet after the normal mix, fires for exactly laptop and node-b after a burst of 60 blocked attempts', async () => {
    const before = await evaluate('flowmesh-failed-connections');
    // The mix made one blocked (laptop -> node-b) and one refused (laptop -> node-a) attempt.
    expect(byNode(before, 'B')).toEqual({ laptop: 2, 'node-b': 1, 'node-a': 1 });
    expect(before.firing).toEqual([]);

    const laptop = mesh.byName('laptop');
    const burst = await laptop.ns.runAsync(process.execPath, [BURST_SCRIPT, ip('node-b'), String(mesh.blockedPorts[0]), String(BURST_ATTEMPTS), '700'], { timeoutMs: 20_000 });
    expect(JSON.parse(burst.stdout)).toEqual({ event: 'done', connected: 0, refused: 0, unanswered: BURST_ATTEMPTS, errors: 0 });
    await waitUntilSettled((agents as MeshAgents).agents, (agents as MeshAgents).token);

    const after = await evaluate('flowmesh-failed-connections');
    expect(byNode(after, 'B')).toEqual({ laptop: 2 + BURST_ATTEMPTS, 'node-b': 1 + BURST_ATTEMPTS, 'node-a': 1 });
    expect(firingNodes(after)).toEqual(['laptop', 'node-b']);
  }, 60_000);

  test('tear-down: backend, agents and every lab interface and namespace are gone', async () => {
    const id = (lab as Lab).id;
    await (backend as PluginBackend).stop();
    await Promise.all((agents as MeshAgents).agents.map((a) => a.process.stop()));
    expect((lab as Lab).destroy()).toEqual([]);
    expect(runSync('ip', ['-br', 'link']).includes(`fm-${id}-`)).toBe(false);
    expect(runSync('ip', ['netns', 'list']).includes(`fm-${id}-`)).toBe(false);
  });
});
