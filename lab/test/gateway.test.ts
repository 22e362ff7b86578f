/**
 * A routing peer (root, CI): a user device behind a WireGuard gateway with a LAN route and
 * an exit route (0.0.0.0/0), nftables masquerade on the gateway's uplink (lab/src/gateway.ts).
 * An agent on the user device captures its tunnel; an agent on the gateway captures the
 * tunnel, the uplink and the LAN interface at once (NAT linking from conntrack, automatic
 * because the gateway forwards). tcpdump beside every captured interface is the ground truth.
 * Known traffic: TCP and UDP through the exit to an unnamed and a named internet host, TCP
 * to the LAN (routed, no NAT), pings through the exit and to the gateway itself. Checked:
 *  - the routing peer on every record (the gateway on the device, the device on the gateway);
 *  - a destination behind the exit keeps its own name and type (never the gateway's);
 *  - on the gateway each connection is an ingress leg (tunnel) and an egress leg (uplink or
 *    LAN); behind the masquerade both are linked with the right translated tuple (as tcpdump
 *    saw it on the uplink) and each other's Community ID;
 *  - every record's counters equal tcpdump's on its interface, and every packet is in one;
 *  - while a connection is held open, the gateway's open flows (include_open) show both of its
 *    legs, with the transit and NAT link their records then carry;
 *  - through the real plugin backend: dedupe `connection` counts each connection once,
 *    network-wide and on the gateway alone; one connection can be followed across the NAT;
 *    the node graph by routing peer shows the device exiting through the gateway.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentBuilt, AGENT_CLI, readJsonLines, startAgent, waitForLog, type AgentProcess } from '../src/agent';
import { conversationTotals, readIpPackets, startCapture, type Capture, type IpPacket } from '../src/capture';
import { BACKEND_EXECUTABLE, buildDriver, frameRows, goBinary, notices, PluginBackend, type TimeRange } from '../src/e2e/plugin-backend';
import { buildGatewayLab, GATEWAY_PLAN as P, type GatewayLab } from '../src/gateway';
import { Lab } from '../src/netns';
import type { FlowRecord } from '../src/records';
import { sleep } from '../src/run';
import { ping, tcpTransfer, udpExchange, type TcpTransferResult } from '../src/traffic';
import { describePrivileged } from './privileged';

const TOKEN = 'gateway-test-token';
const PORT = 9477;
/** No interim records; every flow ends within 2 s of its last packet. */
const FLOWS = { active_timeout_s: 120, tcp_linger_s: 1, idle_timeout_s: { tcp: 30, tcp_unestablished: 2, udp: 2, icmp: 2, other: 2 } };
const EXIT = { port: 8443, up: 30_000, down: 60_000 };
const NAMED = { port: 8444, up: 5_000, down: 20_000 };
const LAN = { port: 8080, up: 10_000, down: 40_000 };
const UDP = { port: 5353, request: 100, reply: 400 };
/** A connection through the exit held open while the gateway's open flows are read. */
const HELD = { port: 8445, up: 2_000, down: 8_000, holdMs: 3000 };
const TCP = 6, UDP_PROTO = 17, ICMP = 1;

type Row = Record<string, unknown>;

describePrivileged('a WireGuard routing peer with a LAN route, an exit route and a masquerading uplink', () => {
  let lab: Lab;
  let g: GatewayLab;
  let backend: PluginBackend | undefined;
  const captures = new Map<string, Capture>();
  const truth = new Map<string, IpPacket[]>();
  let user: FlowRecord[] = [];
  let gw: FlowRecord[] = [];
  const sent: { exit?: TcpTransferResult; named?: TcpTransferResult; lan?: TcpTransferResult; held?: TcpTransferResult; udpPort?: number; pings?: number } = {};
  /** The gateway's open flows of the held connection, as the plugin showed them while it was open. */
  let heldOpen: Row[] = [];
  const startMs = Date.now();
  const range = (): TimeRange => ({ from: startMs - 60_000, to: Date.now() + 60_000 });

  const one = (records: FlowRecord[], match: Partial<FlowRecord>): FlowRecord => {
    const found = records.filter((r) => Object.entries(match).every(([k, v]) => r[k as keyof FlowRecord] === v));
    if (found.length !== 1) throw new Error(`${found.length} records match ${JSON.stringify(match)}: ${JSON.stringify(records.map((r) => [r.interface, r.protocol, r.src_ip, r.src_port, r.dst_ip, r.dst_port]))}`);
    return found[0];
  };

  beforeAll(async () => {
    if (!agentBuilt()) throw new Error(`the agent is not built (${AGENT_CLI} missing): run \`npm run build -w agent\``);
    const go = goBinary();
    if (!go) throw new Error('Go is not installed (needed to build the e2e driver plugin/test/e2e/driver)');
    lab = new Lab();
    const driverBuild = buildDriver(go, lab.workDir);
    driverBuild.catch(() => undefined); // awaited below
    g = buildGatewayLab(lab);

    const inventory = join(lab.workDir, 'inventory.json');
    writeFileSync(inventory, JSON.stringify({
      addresses: {
        [P.userTunnel]: { name: 'alice-laptop', type: 'user' },
        [P.namedInetIp]: { name: 'example-net', type: 'external' },
        [P.lanCidr]: { name: 'office-lan', type: 'egress' },
      },
      wireguard_peers: {
        [g.gw.wg.publicKey]: { name: 'inetgw', type: 'node' },
        [g.user.wg.publicKey]: { name: 'alice-laptop', type: 'user' },
      },
    }));
    const config = join(lab.workDir, 'agent.json');
    writeFileSync(config, JSON.stringify({ flows: FLOWS }));
    const common = ['--config', config, '--inventory', inventory, '--token', TOKEN];
    const interfaces: [GatewayLab['user']['ns'], string][] = [[g.user.ns, g.user.wg.name], [g.gw.ns, g.gw.wg.name], [g.gw.ns, g.gw.uplinkIf], [g.gw.ns, g.gw.lanIf]];
    for (const [ns, ifname] of interfaces) captures.set(ifname, await startCapture(ns, ifname, `${ifname}.pcap`));
    const agents: AgentProcess[] = [
      startAgent(g.user.ns, ['run', ...common, '--interface', g.user.wg.name, '--node', 'alice-laptop', '--listen', `${P.userUnderlay}:${PORT}`,
        '--db', join(lab.workDir, 'user.duckdb'), '--jsonl', join(lab.workDir, 'user.jsonl')], 'agent-user.log'),
      startAgent(g.gw.ns, ['run', ...common, '--interface', g.gw.wg.name, '--interface', g.gw.uplinkIf, '--interface', g.gw.lanIf,
        '--node', 'inetgw', '--listen', `${P.gwUnderlay}:${PORT}`, '--db', join(lab.workDir, 'gw.duckdb'), '--jsonl', join(lab.workDir, 'gw.jsonl')], 'agent-gw.log'),
    ];
    await Promise.all(agents.map((a) => waitForLog(a, /"capturing"/)));
    await waitForLog(agents[1], /NAT linking on/);
    // the plugin backend (inside the gateway's namespace) asks these addresses: the live agents now, the served stores later
    const jsonData = { agents: [{ name: 'alice-laptop', url: `http://${P.userUnderlay}:${PORT}` }, { name: 'inetgw', url: `http://${P.gwUnderlay}:${PORT}` }], timeoutMs: 30_000 };
    backend = await PluginBackend.start(lab, await driverBuild, { jsonData, secureJsonData: { token: TOKEN } }, BACKEND_EXECUTABLE, g.gw.ns);

    sent.exit = await tcpTransfer(g.user.ns, g.inet.ns, P.unnamedInetIp, EXIT.port, EXIT.up, EXIT.down);
    sent.named = await tcpTransfer(g.user.ns, g.inet.ns, P.namedInetIp, NAMED.port, NAMED.up, NAMED.down);
    sent.lan = await tcpTransfer(g.user.ns, g.lan.ns, P.lanHostIp, LAN.port, LAN.up, LAN.down);
    sent.udpPort = (await udpExchange(g.user.ns, g.inet.ns, P.unnamedInetIp, UDP.port, UDP.request, UDP.reply)).clientPort;
    sent.pings = (await ping(g.user.ns, P.unnamedInetIp, 3)).received + (await ping(g.user.ns, P.gwTunnel, 2)).received;
    const held = tcpTransfer(g.user.ns, g.inet.ns, P.namedInetIp, HELD.port, HELD.up, HELD.down, HELD.holdMs);
    const openLegs = { queryType: 'flows', includeOpen: true, agents: ['inetgw'], dedupe: 'none', limit: 100, filters: [
      { field: 'record_kind', op: 'eq', value: 'open' }, { field: 'dst_port', op: 'eq', value: HELD.port }] };
    for (const deadline = Date.now() + HELD.holdMs; Date.now() < deadline && !(heldOpen.length === 2 && heldOpen.every((r) => r.link_id)); await sleep(200)) {
      heldOpen = frameRows((await backend.frames(openLegs, range()))[0]);
    }
    sent.held = await held;
    await sleep(2500); // every flow idles out; SIGTERM flushes whatever is left anyway
    await Promise.all(agents.map((a) => a.stop()));
    for (const [ifname, capture] of captures) {
      await capture.stop();
      truth.set(ifname, readIpPackets(capture.file));
    }
    user = readJsonLines<FlowRecord>(join(lab.workDir, 'user.jsonl'));
    gw = readJsonLines<FlowRecord>(join(lab.workDir, 'gw.jsonl'));

    // the stored records, served for the plugin (reachable from the gateway's namespace)
    const served = [
      startAgent(g.user.ns, ['serve', '--token', TOKEN, '--listen', `${P.userUnderlay}:${PORT}`, '--db', join(lab.workDir, 'user.duckdb')], 'serve-user.log'),
      startAgent(g.gw.ns, ['serve', '--token', TOKEN, '--listen', `${P.gwUnderlay}:${PORT}`, '--db', join(lab.workDir, 'gw.duckdb')], 'serve-gw.log'),
    ];
    await Promise.all(served.map((a) => waitForLog(a, /agent API listening/)));
  }, 120_000);

  afterAll(async () => {
    await backend?.stop().catch(() => undefined);
    lab?.destroy();
  });

  test('the traffic went through as designed', () => {
    expect([sent.exit?.clientReceived, sent.named?.clientReceived, sent.lan?.clientReceived, sent.held?.clientReceived, sent.pings])
      .toEqual([EXIT.down, NAMED.down, LAN.down, HELD.down, 5]);
  });

  test('open flows read every captured interface: a connection still open shows both legs, each with its transit and NAT link', () => {
    const legs = heldOpen.map((r) => [r.interface, r.record_kind, r.transit]).sort();
    expect(legs).toEqual([[g.gw.uplinkIf, 'open', 'egress'], [g.gw.wg.name, 'open', 'ingress']].sort());
    const [tunnel, uplink] = [heldOpen.find((r) => r.interface === g.gw.wg.name)!, heldOpen.find((r) => r.interface === g.gw.uplinkIf)!];
    expect([tunnel.link_id, uplink.link_id]).toEqual([uplink.community_id, tunnel.community_id]);
    // and the records that landed afterwards carry the same legs
    const stored = gw.filter((r) => r.dst_port === HELD.port).map((r) => [r.interface, r.transit, r.community_id, r.link_id]).sort();
    expect(stored).toEqual(heldOpen.map((r) => [r.interface, r.transit, r.community_id, r.link_id]).sort());
  });

  test('on the device: the gateway is the routing peer of everything; behind the exit a destination keeps its own name and type', () => {
    const gwPeer = { peer_name: 'inetgw', peer_key: g.gw.wg.publicKey };
    expect(user.every((r) => r.interface === g.user.wg.name && r.direction === 'outbound' && r.transit === null && r.link_id === '')).toBe(true);
    expect(one(user, { protocol: 'tcp', dst_ip: P.unnamedInetIp })).toMatchObject({ ...gwPeer, dst_name: '', dst_type: 'external', src_name: 'alice-laptop' });
    expect(one(user, { protocol: 'udp', dst_ip: P.unnamedInetIp })).toMatchObject({ ...gwPeer, dst_name: '', dst_type: 'external' });
    expect(one(user, { protocol: 'icmp', dst_ip: P.unnamedInetIp })).toMatchObject({ ...gwPeer, dst_name: '', dst_type: 'external' });
    expect(one(user, { protocol: 'tcp', dst_ip: P.namedInetIp, dst_port: NAMED.port })).toMatchObject({ ...gwPeer, dst_name: 'example-net', dst_type: 'external' });
    expect(one(user, { protocol: 'tcp', dst_ip: P.lanHostIp })).toMatchObject({ ...gwPeer, dst_name: 'office-lan', dst_type: 'egress' });
    // the gateway's own tunnel address is the peer itself
    expect(one(user, { protocol: 'icmp', dst_ip: P.gwTunnel })).toMatchObject({ ...gwPeer, dst_name: 'inetgw', dst_type: 'node' });
    expect(user).toHaveLength(6 + 1); // and the held connection (to example-net as well)
  });

  test('on the gateway: tunnel legs name the device as routing peer; behind the masquerade both legs are linked with the translated tuple', () => {
    const up = g.gw.uplinkIf;
    // the masqueraded source port, as tcpdump saw it on the uplink
    const uplinkSyn = truth.get(up)!.find((p) => p.protocol === TCP && p.dst === P.unnamedInetIp && p.dstPort === EXIT.port && p.tcpFlags === 0x02)!;
    expect(uplinkSyn.src).toBe(P.gwUplinkIp);
    const pre = one(gw, { interface: g.gw.wg.name, protocol: 'tcp', dst_ip: P.unnamedInetIp });
    const post = one(gw, { interface: up, protocol: 'tcp', dst_ip: P.unnamedInetIp });
    expect(pre).toMatchObject({
      direction: 'forwarded', src_ip: P.userTunnel, src_port: sent.exit!.clientPort, dst_port: EXIT.port, transit: 'ingress',
      peer_name: 'alice-laptop', peer_key: g.user.wg.publicKey, src_name: 'alice-laptop', dst_name: '', dst_type: 'external',
      nat_src_ip: P.gwUplinkIp, nat_src_port: uplinkSyn.srcPort, nat_dst_ip: P.unnamedInetIp, nat_dst_port: EXIT.port,
      link_id: post.community_id, community_id: one(user, { protocol: 'tcp', dst_ip: P.unnamedInetIp }).community_id,
    });
    expect(post).toMatchObject({
      src_ip: P.gwUplinkIp, src_port: uplinkSyn.srcPort, transit: 'egress', peer_name: '', peer_key: '',
      nat_src_ip: P.userTunnel, nat_src_port: sent.exit!.clientPort, nat_dst_ip: P.unnamedInetIp, nat_dst_port: EXIT.port,
      link_id: pre.community_id, community_id: uplinkSyn.communityId,
    });
    // UDP and ICMP through the exit are linked the same way
    for (const protocol of ['udp', 'icmp']) {
      const [a, b] = [one(gw, { interface: g.gw.wg.name, protocol, dst_ip: P.unnamedInetIp }), one(gw, { interface: up, protocol, dst_ip: P.unnamedInetIp })];
      expect([a.transit, b.transit, a.nat_src_ip, b.nat_src_ip, a.link_id, b.link_id]).toEqual(['ingress', 'egress', P.gwUplinkIp, P.userTunnel, b.community_id, a.community_id]);
    }
    // routed to the LAN without NAT: the same tuple on both interfaces, not linked, the LAN leg is egress
    const lanIn = one(gw, { interface: g.gw.wg.name, dst_ip: P.lanHostIp });
    const lanOut = one(gw, { interface: g.gw.lanIf, dst_ip: P.lanHostIp });
    expect([lanIn.transit, lanOut.transit, lanIn.community_id, lanIn.link_id, lanOut.nat_src_ip]).toEqual(['ingress', 'egress', lanOut.community_id, '', '']);
    expect(lanIn).toMatchObject({ peer_name: 'alice-laptop', dst_name: 'office-lan', direction: 'forwarded' });
    // the pings to the gateway itself: inbound on the tunnel, seen once (its own address is no peer of its own: unnamed here)
    expect(one(gw, { protocol: 'icmp', dst_ip: P.gwTunnel })).toMatchObject({ direction: 'inbound', transit: null, peer_name: 'alice-laptop', dst_name: '' });
    expect(gw).toHaveLength(1 + 2 * (5 + 1)); // with the held connection's two legs
  });

  test('every record equals tcpdump on its interface, and every captured packet is in a record', () => {
    for (const [records, ifnames] of [[user, [g.user.wg.name]], [gw, [g.gw.wg.name, g.gw.uplinkIf, g.gw.lanIf]]] as const) {
      for (const ifname of ifnames) {
        const packets = truth.get(ifname)!;
        const mine = records.filter((r) => r.interface === ifname);
        for (const r of mine) {
          const ported = r.protocol_number === TCP || r.protocol_number === UDP_PROTO;
          const t = conversationTotals(packets, { protocol: r.protocol_number, srcIp: r.src_ip, dstIp: r.dst_ip, ...(ported ? { srcPort: r.src_port, dstPort: r.dst_port } : {}) });
          expect({ ifname, flow: `${r.protocol} ${r.src_ip}:${r.src_port} -> ${r.dst_ip}:${r.dst_port}`, counters: [r.packets_tx, r.bytes_tx, r.packets_rx, r.bytes_rx] })
            .toEqual({ ifname, flow: `${r.protocol} ${r.src_ip}:${r.src_port} -> ${r.dst_ip}:${r.dst_port}`, counters: [t.forward.packets, t.forward.bytes, t.reverse.packets, t.reverse.bytes] });
        }
        expect({ ifname, packets: mine.reduce((n, r) => n + r.packets_tx + r.packets_rx, 0) }).toEqual({ ifname, packets: packets.length });
      }
    }
    expect(truth.get(g.user.wg.name)!.filter((p) => p.protocol === ICMP)).toHaveLength(10);
  });

  describe('through the plugin backend', () => {
    const bytes = (records: FlowRecord[]) => records.reduce((n, r) => n + r.bytes_tx + r.bytes_rx, 0);
    async function frame(query: object): Promise<Row[]> {
      const frames = await (backend as PluginBackend).frames({ limit: 0, ...query }, range());
      expect(notices(frames).filter((n) => n.startsWith('warning'))).toEqual([]);
      return frameRows(frames[0]);
    }
    const summaryBytes = async (dedupe: string, agents?: string[]) => Number((await frame({ queryType: 'summary', dedupe, ...(agents ? { agents } : {}) }))[0].bytes);

    test('dedupe counts each connection once: network-wide and on the gateway alone', async () => {
      expect(await summaryBytes('none')).toBe(bytes(user) + bytes(gw));
      expect(await summaryBytes('connection')).toBe(bytes(user));
      expect(await summaryBytes('none', ['inetgw'])).toBe(bytes(gw));
      // alone, the gateway counts each connection by its ingress leg (the tunnel side)
      expect(await summaryBytes('connection', ['inetgw'])).toBe(bytes(gw.filter((r) => r.interface === g.gw.wg.name)));
      const top = await frame({ queryType: 'top', groupBy: ['dst_ip'], metric: 'bytes', dedupe: 'connection' });
      const perDestination = new Map<string, number>();
      for (const r of user) perDestination.set(r.dst_ip, (perDestination.get(r.dst_ip) ?? 0) + r.bytes_tx + r.bytes_rx);
      expect(new Map(top.map((row) => [String(row.dst_ip), Number(row.bytes)]))).toEqual(perDestination);
    });

    test('one connection followed across the gateway: the device\'s record, the tunnel leg and the uplink leg', async () => {
      const cid = one(user, { protocol: 'tcp', dst_ip: P.unnamedInetIp }).community_id;
      const rows = await frame({ queryType: 'flows', limit: 100, order: 'oldest', dedupe: 'none', filters: [{ field: 'connection', op: 'eq', value: cid }] });
      expect(rows.map((r) => [r.node, r.interface, r.transit ?? null, r.translated]).sort()).toEqual([
        ['alice-laptop', g.user.wg.name, null, ''],
        ['inetgw', g.gw.uplinkIf, 'egress', `${P.userTunnel}:${sent.exit!.clientPort} -> ${P.unnamedInetIp}:${EXIT.port}`],
        ['inetgw', g.gw.wg.name, 'ingress', expect.stringMatching(new RegExp(`^${P.gwUplinkIp.replace(/\./g, '\\.')}:\\d+ -> ${P.unnamedInetIp.replace(/\./g, '\\.')}:${EXIT.port}$`))],
      ].sort());
    });

    test('the node graph by routing peer: the device exits through the gateway', async () => {
      const frames = await (backend as PluginBackend).frames({ queryType: 'topology', topologyBy: 'peer', dedupe: 'connection', metric: 'bytes' }, range());
      const edges = frameRows(frames[1]).map((e) => `${String(e.source)} -> ${String(e.target)}`).sort();
      // the unnamed internet host appears as its address (a destination without a name falls back to it)
      expect(edges).toEqual(['alice-laptop -> inetgw', 'alice-laptop -> via inetgw', `via inetgw -> ${P.unnamedInetIp}`, 'via inetgw -> example-net', 'via inetgw -> office-lan'].sort());
    });
  });
});
