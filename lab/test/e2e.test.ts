/**
 * End-to-end (root, CI): the product as a Grafana user meets it, without a Grafana server.
 * One mesh lab (nodes, a gateway with a LAN and an internet host, a user's laptop) with an
 * agent capturing on every member, one round of the traffic mix, and the REAL plugin backend
 * executable (plugin/dist/gpx_flowmesh_linux_<arch> launched over go-plugin, gRPC QueryData
 * / CheckHealth / CallResource) configured with the provisioned data source
 * (provisioning/grafana/datasources, agent URLs replaced by the lab's). Then:
 *  - health: every agent ok;
 *  - node-b -> node-a on TCP 443 (a known exchange: 20 000 bytes up, 60 000 down): outbound on
 *    node-b, inbound on node-a, one record each, same Community ID, counters mirrored exactly;
 *  - laptop -> LAN file server: forwarded on the gateway, source named "laptop";
 *  - top talkers: dedupe "connection" counts each connection once; dedupe "none" exceeds it
 *    by exactly the bytes of the second reports (oracle: every record of every agent);
 *  - firewalled port: SYN only, nothing back, S0; closed port: SYN then RST, REJ;
 *  - each agent's Prometheus counters equal what it stored (asked directly and via the plugin);
 *  - every shipped dashboard played as Grafana plays it (src/e2e/dashboards.ts): variables
 *    resolved three ways, every Flowmesh panel query answered without error, with data, in
 *    the shape its panel needs, with links to variables that exist; clicking an address
 *    filters the view;
 *  - every provisioned alert rule, queried as Grafana's alerting queries it, its frames read
 *    as server-side expressions read them: quiet after the normal mix, firing for exactly
 *    the culprits of a generated spike of its kind (a 24 MiB transfer, a burst of blocked
 *    connection attempts, a port scan, a first contact with an external address), and the
 *    "other" row of a top never alerting.
 * Determinism: every check runs once the agents have settled (flow tables empty, nothing
 * waiting to be written, store rows = rows written), so totals no longer move; short flow
 * timeouts make that happen within seconds. Everything is torn down, also on failure.
 */
import { resolve } from 'node:path';
import { shiftPcapTime, startCapture } from '../src/capture';
import { agentSummary, scrapeMetrics, sumOf, waitUntilSettled, type AgentTally } from '../src/e2e/agent-state';
import { evaluateRule, loadAlertRules, type AlertRule, type RuleEvaluation } from '../src/e2e/alerting';
import { dashboardRange, loadDashboards, playDashboards, rerunWithAdHoc, type DashboardReport } from '../src/e2e/dashboards';
import {
  buildDriver, frameRows, notices, PluginBackend, requireBackendTestBuilds, type TimeRange,
} from '../src/e2e/plugin-backend';
import { provisionedDataSource, type ProvisionedDataSource } from '../src/e2e/provisioned';
import { expressionInput } from '../src/grafana/expressions';
import { adHocFiltersFromUrl, panelLinks } from '../src/grafana/links';
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
/** The traffic-spike rule fires above 10 MiB in 5 minutes per node: the spike moves 24 MiB. */
const SPIKE_BYTES = 24 * 1024 * 1024;
/** The failed-connection rule fires above 50 per node in 5 minutes: the burst makes 60. */
const BURST_ATTEMPTS = 60;
/** The port-scan rule fires above 100 failed attempts from one source in 5 minutes: the scan knocks on 120 closed ports. */
const SCAN_PORTS = { first: 20_000, count: 120 } as const;
/** The laptop's history: one download from the internet host two hours before the test. */
const HISTORY_SHIFT_S = -2 * 3600;
/** The node-to-node exchange checked for mirrored counters: small, so no tunnel queue can overflow and drop a segment. */
const EXCHANGE = { port: 443, up: 20_000, down: 60_000 } as const;
const BURST_SCRIPT = resolve(__dirname, '..', 'src', 'e2e', 'connect-burst.js');
const DIRECTION_RANK: Record<string, number> = { outbound: 0, forwarded: 1, inbound: 2 };

type Row = Record<string, unknown>;

describePrivileged('end-to-end: mesh lab -> agents -> plugin backend executable, as Grafana uses it', () => {
  let lab: Lab | undefined;
  let mesh: MeshLab;
  let agents: MeshAgents | undefined;
  let backend: PluginBackend | undefined;
  let datasource: ProvisionedDataSource;
  let outcomes: StepOutcome[] = [];
  let exchange: TcpTransferResult;
  let settled: AgentTally[] = [];
  let rules: Map<string, AlertRule>;
  const startMs = Date.now();
  /** Records of the live traffic start here (the laptop's imported history is older). */
  const sinceMs = startMs - 60_000;
  const range = (): TimeRange => ({ from: sinceMs, to: Date.now() + 60_000 });
  const members = () => mesh.members.map((m) => m.name).sort();
  const ip = (name: string) => mesh.byName(name).wg.ip;
  const b = () => backend as PluginBackend;
  const a = () => agents as MeshAgents;

  /** Flows rows through the plugin and the frame's notices (one page holds all: the lab makes well under 10000 records). */
  async function flowsPage(query: object): Promise<{ rows: Row[]; notices: string[] }> {
    const [frame] = await b().frames({ queryType: 'flows', limit: 10000, order: 'oldest', dedupe: 'none', ...query }, range());
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
    const [frame] = await b().frames({ queryType: 'top', groupBy, metric, dedupe, limit: 0 }, range());
    expect(notices([frame])).toEqual([]);
    expect(frame.schema.meta?.custom?.otherGroups).toBe(0);
    return new Map(frameRows(frame).map((r) => [groupBy.map((d) => String(r[d])).join(' -> '), Number(r[metric])]));
  }

  function rule(uid: string): AlertRule {
    const found = rules.get(uid);
    if (!found) throw new Error(`no alert rule ${uid} in ${RULES_FILE}`);
    return found;
  }

  const evaluate = (r: AlertRule): Promise<RuleEvaluation> =>
    evaluateRule(r, datasource.uid, (queries, tr, headers) => b().query(queries, tr, headers));

  const byLabel = (evaluation: RuleEvaluation, refId: string, label: string) =>
    Object.fromEntries((evaluation.numbers.get(refId) ?? []).map((n) => [n.labels[label], n.value]));
  const firing = (evaluation: RuleEvaluation, label: string) => evaluation.firing.map((l) => l[label]).sort();
  const settle = () => waitUntilSettled(a().agents, a().token, sinceMs);

  /** The laptop's download from the internet host, captured now and moved two hours back. */
  async function captureHistory(): Promise<string> {
    const laptop = mesh.byName('laptop');
    const capture = await startCapture(laptop.ns, laptop.wg.name, 'laptop-history.pcap');
    const got = await runClient(laptop.ns, 'http-get', { url: `http://${mesh.inetHost.ip}:${SERVICE_PORTS.http}/bytes/5000`, timeout: 10_000 });
    await capture.stop();
    if (got.bytes !== 5000) throw new Error(`history download failed: ${JSON.stringify(got)}`);
    shiftPcapTime(capture.file, HISTORY_SHIFT_S);
    return capture.file;
  }

  beforeAll(async () => {
    const go = requireBackendTestBuilds();
    rules = loadAlertRules(RULES_FILE);

    lab = new Lab();
    const driverBuild = buildDriver(go, lab.workDir);
    driverBuild.catch(() => undefined); // awaited below; a failure must not be an unhandled rejection meanwhile
    mesh = buildMeshLab(lab);
    await startServices(mesh, 200_000);
    const history = await captureHistory();
    agents = await startMeshAgents(mesh, { timeouts: TIMEOUTS, history: { laptop: [history] } });
    const running = agents.agents.map((x) => ({ name: x.member.name, url: x.url }));
    datasource = provisionedDataSource(running, { FLOWMESH_TOKEN: agents.token });
    backend = await PluginBackend.start(lab, await driverBuild, datasource.settings);
    outcomes = await trafficRound(mesh);
    exchange = await tcpTransfer(mesh.byName('node-b').ns, mesh.byName('node-a').ns, ip('node-a'), EXCHANGE.port, EXCHANGE.up, EXCHANGE.down);
    settled = await settle();
  }, 150_000);

  afterAll(async () => {
    await backend?.stop().catch(() => undefined);
    if (agents) await Promise.all(agents.agents.map((x) => x.process.stop().catch(() => undefined)));
    lab?.destroy();
  });

  test('the traffic mix behaved as designed, on the provisioned data source settings (precondition of every exact check)', () => {
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    for (const t of settled) expect([t.node, sumOf(t.metrics, 'flowmesh_capture_kernel_drops_total')]).toEqual([t.node, 0]);
    // Only the agent list differs from the shipped file (it names the compose services).
    expect(datasource.settings.jsonData).toMatchObject({ timeoutMs: 10000, maxConcurrency: 8, rowBudget: 50000, defaultDedupe: 'connection' });
    expect(datasource.settings.secureJsonData).toEqual({ token: a().token });
  });

  test('CheckHealth and the agents / values resources: every agent ok and reporting', async () => {
    const health = await b().health();
    expect(health.status).toBe('OK');
    expect((health.details?.agents ?? []).map((x) => `${x.name}: ${x.status}`).sort()).toEqual(members().map((n) => `${n}: ok`));
    const res = await b().resource('GET', 'agents');
    expect(res.status).toBe(200);
    const listed = (JSON.parse(res.body) as { agents: { name: string; ok: boolean }[] }).agents;
    expect(listed.filter((x) => x.ok).map((x) => x.name).sort()).toEqual(members());
    // The editor's value suggestions: every reporting node, with its connection count as stored.
    const { from, to } = range();
    const values = await b().resource('POST', 'values', { dimension: 'node', from, to });
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
    const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
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
    // The same once-per-connection totals from a deduplicated time series (two-step dedupe).
    const series = await b().frames({ queryType: 'timeseries', metric: 'bytes', dedupe: 'connection', intervalMs: 5000 }, range());
    expect(notices(series)).toEqual([]);
    expect(series.flatMap((f) => f.data.values[1] as number[]).reduce((x, y) => x + y, 0)).toBe(total(wantOnce));
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
    const since = { from: sinceMs, to: Date.now() + 60_000 };
    let sumAll = 0;
    for (const agent of a().agents) {
      const metrics = await scrapeMetrics(agent);
      const stored = await agentSummary(agent, a().token, sinceMs);
      const counted = {
        bytes: sumOf(metrics, 'flowmesh_traffic_bytes_total'),
        packets: sumOf(metrics, 'flowmesh_traffic_packets_total'),
        flows: sumOf(metrics, 'flowmesh_flows_started_total'),
      };
      expect([agent.member.name, counted]).toEqual([agent.member.name, { bytes: stored.total.bytes, packets: stored.total.packets, flows: stored.total.flows }]);
      expect(counted.bytes).toBeGreaterThan(0);
      const [frame] = await b().frames({ queryType: 'summary', agents: [agent.member.name], dedupe: 'none' }, since);
      expect([agent.member.name, frameRows(frame)[0].bytes]).toEqual([agent.member.name, counted.bytes]);
      sumAll += counted.bytes;
    }
    const [all] = await b().frames({ queryType: 'summary', dedupe: 'none' }, since);
    expect(frameRows(all)[0].bytes).toBe(sumAll);
  });

  let report: DashboardReport;

  describe('the shipped dashboards, played as Grafana plays them', () => {
    beforeAll(async () => {
      // The node dashboard's live panels show connections open right now: keep one open (a
      // ping from the laptop to the LAN host, forwarded by the gateway) while the dashboards are
      // played, then let it end and the agents settle again for the exact checks that follow.
      const ping = mesh.byName('laptop').ns.spawn('ping', ['-q', '-i', '0.5', '-w', '300', mesh.lanHost.ip]);
      try {
        await new Promise((done) => setTimeout(done, 1500));
        report = await playDashboards(b(), datasource.uid);
      } finally {
        ping.kill('SIGTERM');
      }
      await settle();
    }, 240_000);

    test('every Flowmesh panel query of every dashboard: answered, with data, in its panel\'s shape, links to existing variables', () => {
      const targets = Object.values(report.targets).reduce((x, y) => x + y, 0);
      console.log(`[e2e] ${targets} Flowmesh panel queries on ${Object.keys(report.targets).length} dashboards; runs per scenario (a run repeating an earlier scenario's values is not repeated): ${JSON.stringify(report.scenarios)}`);
      expect(targets).toBeGreaterThanOrEqual(35);
      expect(Object.keys(report.scenarios).sort()).toEqual(['all', 'defaults', 'value']);
      expect(report.problems).toEqual([]);
    });

    test('the node graph shows the mesh by name, with readable stats, and falls back to addresses', () => {
      const run = report.runs.find((r) => r.panelJson.type === 'nodeGraph' && r.scenario === 'defaults');
      expect(run).toBeDefined();
      const [nodes, edges] = run?.response.frames ?? [];
      const ids = frameRows(nodes).map((r) => String(r.id));
      expect(ids).toEqual(expect.arrayContaining(['laptop', 'node-a', 'node-b', 'gw', 'files.corp', 'example-net']));
      expect(new Set(ids).size).toBe(ids.length);
      expect(frameRows(edges).find((e) => e.id === 'node-b->node-a')?.mainstat).toMatch(/^\d+(\.\d+)? (B|KiB|MiB)$/);
      expect(frameRows(nodes).every((n) => / (sent)$/.test(String(n.mainstat)))).toBe(true);
    });

    test('clicking an address in a flow table filters the dashboard to it (ad-hoc Filters variable)', async () => {
      const run = report.runs.find((r) => r.dashboard === 'flowmesh-overview.json' && r.panel === 'Newest flows' && r.scenario === 'defaults');
      if (!run) throw new Error('no run of Flows overview / Newest flows');
      const link = panelLinks(run.panelJson).find((l) => l.url.includes('var-filters=src_ip'));
      if (!link) throw new Error('the Source IP column has no filter link');
      const clicked = ip('laptop');
      expect(frameRows((run.response.frames ?? [])[0]).some((r) => r.src_ip === clicked)).toBe(true);
      const url = link.url.replaceAll('${__value.raw}', clicked);
      const adHoc = adHocFiltersFromUrl(url, 'filters');
      expect(adHoc).toEqual([{ key: 'src_ip', operator: '=', value: clicked }]);
      const overview = loadDashboards().find((d) => d.file === 'flowmesh-overview.json');
      const filtered = await rerunWithAdHoc(b(), run, adHoc, dashboardRange(overview?.json ?? {}));
      const rows = frameRows((filtered.frames ?? [])[0]);
      expect(rows.length).toBeGreaterThan(0);
      expect(new Set(rows.map((r) => r.src_ip))).toEqual(new Set([clicked]));
    });
  });

  describe('the provisioned alert rules, evaluated as Grafana alerting does', () => {
    test('traffic spike: quiet after the normal mix, fires for exactly node-a and node-b during a 24 MiB transfer', async () => {
      const spike = rule('flowmesh-traffic-spike');
      const before = await evaluate(spike);
      expect(Object.keys(byLabel(before, 'C', 'node')).sort()).toEqual(members()); // every node reported traffic, all below the line
      expect(before.firing).toEqual([]);

      const got = await runClient(mesh.byName('node-b').ns, 'http-get', { url: `http://${ip('node-a')}:${SERVICE_PORTS.http}/bytes/${SPIKE_BYTES}`, timeout: 60_000 });
      expect(got.bytes).toBe(SPIKE_BYTES);
      await settle();

      const after = await evaluate(spike);
      expect(firing(after, 'node')).toEqual(['node-a', 'node-b']);
      const moved = byLabel(after, 'C', 'node');
      expect(moved['node-a'] as number).toBeGreaterThan(SPIKE_BYTES);
      expect(moved.laptop).toBe(byLabel(before, 'C', 'node').laptop);
    }, 90_000);

    test('failed-connection spike: quiet after the normal mix, fires for exactly laptop and node-b after a burst of 60 blocked attempts', async () => {
      const failed = rule('flowmesh-failed-connections');
      const before = await evaluate(failed);
      // The mix: laptop -> node-b blocked (S0 at both ends), laptop -> node-a refused (REJ at
      // both ends), node-a -> node-c unanswered (S0 at node-a only).
      expect(byLabel(before, 'B', 'node')).toEqual({ laptop: 2, 'node-b': 1, 'node-a': 2 });
      expect(before.firing).toEqual([]);

      const laptop = mesh.byName('laptop');
      const burst = await laptop.ns.runAsync(process.execPath, [BURST_SCRIPT, ip('node-b'), String(mesh.blockedPorts[0]), String(BURST_ATTEMPTS), '700'], { timeoutMs: 20_000 });
      expect(JSON.parse(burst.stdout)).toEqual({ event: 'done', connected: 0, refused: 0, unanswered: BURST_ATTEMPTS, errors: 0 });
      await settle();

      const after = await evaluate(failed);
      expect(byLabel(after, 'B', 'node')).toEqual({ laptop: 2 + BURST_ATTEMPTS, 'node-b': 1 + BURST_ATTEMPTS, 'node-a': 2 });
      expect(firing(after, 'node')).toEqual(['laptop', 'node-b']);
    }, 60_000);

    test('port scan: quiet below 100 failed attempts per source, fires for exactly the laptop scanning 120 closed ports; never for "other"', async () => {
      const scan = rule('flowmesh-port-scan');
      const before = await evaluate(scan);
      // Each attempt counts once (dedupe connection): the laptop's 2 + 60 blocked, node-a's 1.
      expect(byLabel(before, 'B', 'src_ip')).toEqual({ [ip('laptop')]: 2 + BURST_ATTEMPTS, [ip('node-a')]: 1 });
      expect(before.firing).toEqual([]);

      const last = SCAN_PORTS.first + SCAN_PORTS.count - 1;
      const laptop = mesh.byName('laptop');
      const out = await laptop.ns.runAsync(process.execPath, [BURST_SCRIPT, ip('node-a'), `${SCAN_PORTS.first}-${last}`, String(SCAN_PORTS.count), '700'], { timeoutMs: 20_000 });
      expect(JSON.parse(out.stdout)).toEqual({ event: 'done', connected: 0, refused: SCAN_PORTS.count, unanswered: 0, errors: 0 });
      await settle();

      const after = await evaluate(scan);
      expect(byLabel(after, 'B', 'src_ip')).toEqual({ [ip('laptop')]: 2 + BURST_ATTEMPTS + SCAN_PORTS.count, [ip('node-a')]: 1 });
      expect(firing(after, 'src_ip')).toEqual([ip('laptop')]);

      // The same rule over the top 1 source and a threshold of 0: node-a's attempt is beyond
      // the limit, in the table's "other" row, which alert frames leave out.
      const strict = structuredClone(scan);
      for (const d of strict.data) {
        if (d.refId === 'A') d.model.limit = 1;
        if (d.refId === 'C') (d.model.conditions as { evaluator: { params: number[] } }[])[0].evaluator.params = [0];
      }
      expect(firing(await evaluate(strict), 'src_ip')).toEqual([ip('laptop')]);
    }, 60_000);

    test('new external destination: quiet for an address seen two hours ago, fires for exactly a first contact', async () => {
      const fresh = rule('flowmesh-new-external-destination');
      const before = await evaluate(fresh);
      // example-net: in the last 10 minutes, and in the laptop's imported history.
      const seen = byLabel(before, 'C', 'dst_ip');
      expect(Object.keys(seen)).toEqual([mesh.inetHost.ip]);
      expect(seen[mesh.inetHost.ip] as number).toBeGreaterThan(byLabel(before, 'D', 'dst_ip')[mesh.inetHost.ip] as number);
      expect(before.firing).toEqual([]);

      const got = await runClient(mesh.byName('laptop').ns, 'http-get', { url: `http://${mesh.freshInetIp}:${SERVICE_PORTS.http}/bytes/1000`, timeout: 10_000 });
      expect(got.bytes).toBe(1000);
      await settle();

      // The graph by name, filtered to the gateway's reports (ad-hoc Filters: node = gw), shows
      // the address nothing names as itself, not as "(unnamed)".
      const graph = report.runs.find((r) => r.panelJson.type === 'nodeGraph' && r.scenario === 'defaults');
      if (!graph) throw new Error('no run of the node graph');
      const topology = loadDashboards().find((d) => d.file === graph.dashboard);
      const redrawn = await rerunWithAdHoc(b(), graph, [{ key: 'node', operator: '=', value: 'gw' }], dashboardRange(topology?.json ?? {}));
      const nodes = frameRows((redrawn.frames ?? [])[0]);
      expect(nodes.find((n) => n.id === mesh.freshInetIp)).toMatchObject({ title: mesh.freshInetIp, subtitle: 'unnamed' });

      const after = await evaluate(fresh);
      const counts = (refId: string) => byLabel(after, refId, 'dst_ip');
      expect({ firing: firing(after, 'dst_ip'), C: counts('C'), D: counts('D') }).toEqual({
        firing: [mesh.freshInetIp],
        C: { [mesh.inetHost.ip]: seen[mesh.inetHost.ip], [mesh.freshInetIp]: 1 },
        D: { [mesh.inetHost.ip]: byLabel(before, 'D', 'dst_ip')[mesh.inetHost.ip], [mesh.freshInetIp]: 1 },
      });
    }, 60_000);

    test('Summary and Top as alert queries: frames server-side expressions accept (one number; one number per label set)', async () => {
      const alertRange = { from: Date.now() - 300_000, to: Date.now() };
      const answer = await b().query(
        [
          { refId: 'S', queryType: 'summary', metric: 'flows' },
          { refId: 'T', queryType: 'top', groupBy: ['node', 'protocol'], metric: 'bytes', limit: 3 },
        ],
        alertRange,
        { FromAlert: 'true' },
      );
      const summary = expressionInput(answer.S.frames ?? [], 'S');
      expect(summary).toMatchObject({ kind: 'numbers', items: [{ labels: {} }] });
      const topInput = expressionInput(answer.T.frames ?? [], 'T');
      expect(topInput.kind).toBe('numbers');
      if (topInput.kind !== 'numbers') return;
      expect(topInput.items).toHaveLength(3);
      expect(topInput.items.some((i) => Object.values(i.labels).includes('other'))).toBe(false);
    });
  });

  test('tear-down: backend, agents and every lab interface and namespace are gone', async () => {
    const id = (lab as Lab).id;
    await b().stop();
    await Promise.all(a().agents.map((x) => x.process.stop()));
    expect((lab as Lab).destroy()).toEqual([]);
    expect(runSync('ip', ['-br', 'link']).includes(`fm-${id}-`)).toBe(false);
    expect(runSync('ip', ['netns', 'list']).includes(`fm-${id}-`)).toBe(false);
  });
});
