/**
 * The mesh lab (root): every designed path works (and the designed failures fail), and the
 * agents on the members report it through their HTTP API: inventory names and types, DNS
 * domains, direction per vantage point (outbound / forwarded at the gateway / inbound), the
 * failed handshakes, and one Community ID per connection across agents.
 */
import { agentBuilt } from '../src/agent';
import { buildMeshLab, type MeshLab } from '../src/mesh';
import { queryFlows, startMeshAgents, type MeshAgents } from '../src/mesh-agents';
import { SERVICE_PORTS, startServices, trafficRound, type StepOutcome } from '../src/mesh-traffic';
import { Lab } from '../src/netns';
import { connections, type Connection, type FlowRecord } from '../src/records';
import { runSync, sleep } from '../src/run';
import { describePrivileged } from './privileged';

const FAST = {
  active_timeout_s: 30,
  tcp_linger_s: 1,
  idle_timeout_s: { tcp: 30, tcp_unestablished: 2, udp: 2, icmp: 2, other: 2 },
};

describePrivileged('mesh lab', () => {
  let mesh: MeshLab;
  let agents: MeshAgents;
  let outcomes: StepOutcome[] = [];
  const startMs = Date.now();

  /** Connections an agent reported, polled until `ready` holds (flows end after the short lab timeouts). */
  async function reported(node: string, ready: (c: Connection[]) => boolean): Promise<Connection[]> {
    const deadline = Date.now() + 15_000;
    let conns: Connection[] = [];
    while (Date.now() < deadline) {
      conns = connections(await queryFlows<FlowRecord>(agents.byName(node), agents.token, startMs - 60_000, Date.now() + 60_000));
      if (ready(conns)) break;
      await sleep(500);
    }
    return conns;
  }
  const find = (conns: Connection[], pred: (r: FlowRecord) => boolean) => conns.filter((c) => pred(c.last));

  beforeAll(async () => {
    if (!agentBuilt()) throw new Error('the agent is not built: run `npm run build -w agent` first');
    mesh = buildMeshLab(new Lab());
    await startServices(mesh, 50_000);
    agents = await startMeshAgents(mesh, { timeouts: FAST });
    outcomes = await trafficRound(mesh);
  }, 40_000);

  afterAll(async () => {
    if (agents) await Promise.all(agents.agents.map((a) => a.process.stop().catch(() => undefined)));
    mesh?.lab.destroy();
  });

  test('one round of the traffic mix behaves as designed', () => {
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(outcomes).toHaveLength(13);
  });

  test('the root namespace reaches every agent on the underlay', () => {
    expect(runSync('ip', ['route', 'get', mesh.byName('gw').underlayIp])).toContain(`fm-${mesh.lab.id}-host`);
  });

  test('laptop -> LAN file server: named, DNS-annotated, outbound on the laptop, forwarded at the gateway', async () => {
    const toLan = (r: FlowRecord) => r.protocol === 'tcp' && r.dst_ip === mesh.lanHost.ip && r.src_ip === mesh.byName('laptop').wg.ip;
    const laptop = find(await reported('laptop', (c) => find(c, toLan).length === 1), toLan);
    const gw = find(await reported('gw', (c) => find(c, toLan).length === 1), toLan);
    expect(laptop).toHaveLength(1);
    expect(gw).toHaveLength(1);
    expect(laptop[0].last).toMatchObject({
      direction: 'outbound', src_name: 'laptop', src_type: 'user', dst_name: 'files.corp', dst_type: 'egress',
      dst_domain: 'files.corp.internal', dst_port: SERVICE_PORTS.http, conn_state: 'SF',
    });
    expect(gw[0].last).toMatchObject({ direction: 'forwarded', node: 'gw', conn_state: 'SF', community_id: laptop[0].last.community_id });
    // The gateway relays what the laptop sent and the laptop receives what the gateway relayed
    // (equal unless the tunnel lost packets on a loaded machine).
    expect(gw[0].bytes_tx).toBeLessThanOrEqual(laptop[0].bytes_tx);
    expect(laptop[0].bytes_rx).toBeLessThanOrEqual(gw[0].bytes_rx);
    expect(laptop[0].bytes_rx).toBeGreaterThan(200_000);
  });

  test('laptop -> internet host through the gateway egress: external, named, DNS-annotated', async () => {
    const toInet = (r: FlowRecord) => r.protocol === 'tcp' && r.dst_ip === mesh.inetHost.ip;
    const [c] = find(await reported('laptop', (cs) => find(cs, toInet).length === 1), toInet);
    expect(c.last).toMatchObject({ direction: 'outbound', dst_type: 'external', dst_name: 'example-net', dst_domain: 'example.net' });
    expect(find(await reported('gw', (cs) => find(cs, toInet).length === 1), toInet)[0].last.direction).toBe('forwarded');
  });

  test('firewalled port: S0 at the laptop and at node-b, same Community ID; refused port: REJ at both ends', async () => {
    const blocked = (r: FlowRecord) => r.dst_port === mesh.blockedPorts[0];
    const refused = (r: FlowRecord) => r.dst_port === SERVICE_PORTS.refused;
    const done = (cs: Connection[]) => find(cs, blocked).length === 1 && find(cs, refused).length === 1;
    const laptop = await reported('laptop', done);
    const nodeB = await reported('node-b', (cs) => find(cs, blocked).length === 1);
    const nodeA = await reported('node-a', (cs) => find(cs, refused).length === 1);
    const [lb] = find(laptop, blocked), [bb] = find(nodeB, blocked);
    expect([lb.last.conn_state, lb.last.direction, lb.tcp_flags_src, lb.packets_rx]).toEqual(['S0', 'outbound', 0x02, 0]);
    expect([bb.last.conn_state, bb.last.direction, bb.last.dst_name]).toEqual(['S0', 'inbound', 'node-b']);
    expect(bb.last.community_id).toBe(lb.last.community_id);
    const [lr] = find(laptop, refused), [ar] = find(nodeA, refused);
    expect([lr.last.conn_state, ar.last.conn_state, ar.last.direction]).toEqual(['REJ', 'REJ', 'inbound']);
    expect(ar.tcp_flags_dst & 0x04).toBe(0x04);
  });

  test('ping laptop -> node-b: 3 echoes each way on both agents', async () => {
    const echo = (r: FlowRecord) => r.protocol === 'icmp' && r.dst_ip === mesh.byName('node-b').wg.ip;
    for (const node of ['laptop', 'node-b']) {
      const found = find(await reported(node, (cs) => find(cs, echo).length === 1), echo);
      expect(found.map((c) => [c.packets_tx, c.packets_rx])).toEqual([[3, 3]]);
    }
  });

  test('tear-down removes the root-namespace link too', async () => {
    const id = mesh.lab.id;
    await Promise.all(agents.agents.map((a) => a.process.stop()));
    expect(mesh.lab.destroy()).toEqual([]);
    expect(runSync('ip', ['-br', 'link']).includes(`fm-${id}-`)).toBe(false);
    expect(runSync('ip', ['netns', 'list']).includes(`fm-${id}-`)).toBe(false);
  });
});
