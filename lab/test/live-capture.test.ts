/**
 * Live capture on both ends of a WireGuard tunnel (root): two namespaces joined by a veth
 * underlay and wireguard-go, one agent capturing on each side's WireGuard interface, tcpdump
 * beside each agent as ground truth, known traffic from a to b. Each side's records must
 * say exactly what happened: direction outbound on a and inbound on b, counters equal to the
 * tcpdump beside it (per-direction IP bytes and packets) and mirrored across the tunnel
 * (records are oriented by initiator, so both views are the same numbers unless the tunnel
 * lost packets), SYN only for the firewalled port, SYN then
 * RST+ACK for the refused one, and the same Community ID on both sides (and as Wireshark
 * computes it).
 */
import { join } from 'node:path';
import { agentBuilt, readJsonLines, startAgent, waitForLog, type AgentProcess } from '../src/agent';
import { conversationTotals, readIpPackets, startCapture, type Capture, type IpPacket } from '../src/capture';
import { connections, onlyConnection, type Connection, type FlowRecord } from '../src/records';
import { sleep } from '../src/run';
import { twoNodeTunnel, type TunnelEnd, type TwoNodeTunnel } from '../src/topology';
import { ping, tcpConnect, tcpTransfer, udpExchange } from '../src/traffic';
import { describePrivileged } from './privileged';

const PORTS = { tcp: 5001, refused: 5002, dropped: 5003, udp: 5353 } as const;
const TCP_SEND = 300_000;
const TCP_REPLY = 20_000;
const UDP_REQUEST = 120;
const UDP_REPLY = 480;
const PINGS = 4;
const SYN = 0x02, RST = 0x04, ACK = 0x10, FIN = 0x01;
/** The agent logs this once libpcap is capturing (agent/src/pipeline). */
const CAPTURING = /capture started|capturing/i;

type Conn = Connection<FlowRecord>;

interface Side {
  end: TunnelEnd;
  agent: AgentProcess;
  capture: Capture;
  jsonl: string;
  conns: Conn[];
  truth: IpPacket[];
}

describePrivileged('live capture on both ends of a wireguard-go tunnel', () => {
  let mesh: TwoNodeTunnel;
  const sides: Record<'a' | 'b', Side> = {} as Record<'a' | 'b', Side>;
  const facts = { clientTcpPort: 0, clientUdpPort: 0, refused: '', dropped: '', pings: 0 };

  beforeAll(async () => {
    if (!agentBuilt()) throw new Error('the agent is not built: run `npm run build -w agent` first');
    mesh = twoNodeTunnel();
    mesh.b.ns.dropInboundTcp([PORTS.dropped]);
    for (const key of ['a', 'b'] as const) {
      const end = mesh[key];
      const jsonl = join(mesh.lab.workDir, `${key}.jsonl`);
      const capture = await startCapture(end.ns, end.wg.name, `${key}.pcap`);
      const agent = startAgent(
        end.ns,
        ['run', '--interface', end.wg.name, '--jsonl', jsonl, '--node', `node-${key}`],
        `agent-${key}.log`,
      );
      sides[key] = { end, agent, capture, jsonl, conns: [], truth: [] };
    }
    await Promise.all([waitForLog(sides.a.agent, CAPTURING), waitForLog(sides.b.agent, CAPTURING)]);

    const { a, b } = mesh;
    const tcp = await tcpTransfer(a.ns, b.ns, b.wg.ip, PORTS.tcp, TCP_SEND, TCP_REPLY);
    expect([tcp.clientSent, tcp.serverReceived, tcp.clientReceived]).toEqual([TCP_SEND, TCP_SEND, TCP_REPLY]);
    facts.clientTcpPort = tcp.clientPort;
    facts.clientUdpPort = (await udpExchange(a.ns, b.ns, b.wg.ip, PORTS.udp, UDP_REQUEST, UDP_REPLY)).clientPort;
    facts.pings = (await ping(a.ns, b.wg.ip, PINGS)).received;
    facts.refused = await tcpConnect(a.ns, b.wg.ip, PORTS.refused);
    facts.dropped = await tcpConnect(a.ns, b.wg.ip, PORTS.dropped);
    await sleep(300); // let the last packets reach both captures

    // SIGTERM flushes every open flow as a final record.
    await Promise.all([sides.a.agent.stop(), sides.b.agent.stop()]);
    for (const side of [sides.a, sides.b]) {
      await side.capture.stop();
      side.conns = connections(readJsonLines<FlowRecord>(side.jsonl));
      side.truth = readIpPackets(side.capture.file);
    }
  }, 55_000);

  afterAll(() => mesh?.lab.destroy());

  test('the traffic itself behaved as designed', () => {
    expect(facts).toMatchObject({ pings: PINGS, refused: 'refused', dropped: 'timeout' });
  });

  test('each side reports exactly the five connections and every captured packet and byte', () => {
    for (const side of [sides.a, sides.b]) {
      expect(side.conns).toHaveLength(5);
      const packets = side.conns.reduce((n, c) => n + c.packets_tx + c.packets_rx, 0);
      const bytes = side.conns.reduce((n, c) => n + c.bytes_tx + c.bytes_rx, 0);
      expect(packets).toBe(side.truth.length);
      expect(bytes).toBe(side.truth.reduce((n, p) => n + p.ipLength, 0));
    }
  });

  test('direction: outbound on the initiator, inbound on the responder; node names', () => {
    for (const c of sides.a.conns) expect([c.last.direction, c.last.node, c.last.src_ip, c.last.dst_ip]).toEqual(['outbound', 'node-a', mesh.a.wg.ip, mesh.b.wg.ip]);
    for (const c of sides.b.conns) expect([c.last.direction, c.last.node, c.last.src_ip, c.last.dst_ip]).toEqual(['inbound', 'node-b', mesh.a.wg.ip, mesh.b.wg.ip]);
  });

  test('TCP transfer: one SF connection, counters equal to tcpdump on each side and mirrored across the tunnel', () => {
    const match = { protocol: 'tcp', src_port: facts.clientTcpPort, dst_port: PORTS.tcp };
    const counters = (c: Conn) => [c.packets_tx, c.packets_rx, c.bytes_tx, c.bytes_rx];
    const [ca, cb] = [onlyConnection(sides.a.conns, match), onlyConnection(sides.b.conns, match)];
    for (const [c, side] of [[ca, sides.a], [cb, sides.b]] as const) {
      const truth = conversationTotals(side.truth, { protocol: 6, srcIp: mesh.a.wg.ip, dstIp: mesh.b.wg.ip, srcPort: facts.clientTcpPort, dstPort: PORTS.tcp });
      expect(counters(c)).toEqual([truth.forward.packets, truth.reverse.packets, truth.forward.bytes, truth.reverse.bytes]);
      // IP bytes = payload + 40..120 header bytes per packet.
      expect(c.bytes_tx - TCP_SEND).toBeGreaterThanOrEqual(40 * c.packets_tx);
      expect(c.bytes_tx - TCP_SEND).toBeLessThanOrEqual(120 * c.packets_tx);
      expect(c.bytes_rx - TCP_REPLY).toBeGreaterThanOrEqual(40 * c.packets_rx);
      expect(c.bytes_rx - TCP_REPLY).toBeLessThanOrEqual(120 * c.packets_rx);
      expect(c.last.conn_state).toBe('SF');
      expect(c.tcp_flags_src & (SYN | ACK | FIN)).toBe(SYN | ACK | FIN);
      expect(c.tcp_flags_dst & (SYN | ACK | FIN)).toBe(SYN | ACK | FIN);
      expect(c.tcp_flags_src & RST).toBe(0);
    }
    // Both records are oriented by the initiator, so the two views are the same numbers, except
    // for packets the tunnel lost on a loaded machine: the receiver never sees more than was sent.
    const tunnelLossAtoB = [ca.packets_tx - cb.packets_tx, ca.bytes_tx - cb.bytes_tx];
    const tunnelLossBtoA = [cb.packets_rx - ca.packets_rx, cb.bytes_rx - ca.bytes_rx];
    for (const loss of [...tunnelLossAtoB, ...tunnelLossBtoA]) expect(loss).toBeGreaterThanOrEqual(0);
    if (tunnelLossAtoB[0] === 0 && tunnelLossBtoA[0] === 0) expect(counters(ca)).toEqual(counters(cb));
  });

  test('UDP request/response: one packet each way, IP bytes = payload + 28', () => {
    const match = { protocol: 'udp', src_port: facts.clientUdpPort, dst_port: PORTS.udp };
    for (const side of [sides.a, sides.b]) {
      const c = onlyConnection(side.conns, match);
      expect([c.packets_tx, c.packets_rx, c.bytes_tx, c.bytes_rx]).toEqual([1, 1, UDP_REQUEST + 28, UDP_REPLY + 28]);
    }
  });

  test('ping: one ICMP echo connection with the echo count each way', () => {
    for (const side of [sides.a, sides.b]) {
      const truth = conversationTotals(side.truth, { protocol: 1, srcIp: mesh.a.wg.ip, dstIp: mesh.b.wg.ip });
      const c = onlyConnection(side.conns, { protocol: 'icmp' });
      expect([c.packets_tx, c.packets_rx]).toEqual([PINGS, PINGS]);
      expect([c.bytes_tx, c.bytes_rx]).toEqual([truth.forward.bytes, truth.reverse.bytes]);
      expect(c.last.icmp_type).toBe(8);
    }
  });

  test('refused port: SYN from the client, RST+ACK from the server, REJ', () => {
    for (const side of [sides.a, sides.b]) {
      const c = onlyConnection(side.conns, { protocol: 'tcp', dst_port: PORTS.refused });
      expect([c.tcp_flags_src, c.tcp_flags_dst & (RST | ACK), c.packets_tx, c.packets_rx]).toEqual([SYN, RST | ACK, 1, 1]);
      expect(c.last.conn_state).toBe('REJ');
    }
  });

  test('firewalled port: SYN only, nothing back, S0 (seen on both sides: capture precedes the drop)', () => {
    for (const side of [sides.a, sides.b]) {
      const c = onlyConnection(side.conns, { protocol: 'tcp', dst_port: PORTS.dropped });
      // The client gives up before the first retransmission, but a starved CPU may let one through: count as tcpdump did.
      const truth = conversationTotals(side.truth, { protocol: 6, srcIp: mesh.a.wg.ip, dstIp: mesh.b.wg.ip, dstPort: PORTS.dropped });
      expect(truth.forward.packets).toBeGreaterThanOrEqual(1);
      expect([c.tcp_flags_src, c.tcp_flags_dst, c.packets_tx, c.packets_rx, c.bytes_rx]).toEqual([SYN, 0, truth.forward.packets, 0, 0]);
      expect(c.last.conn_state).toBe('S0');
    }
  });

  test('Community ID: equal on both sides for every connection, and equal to Wireshark\'s', () => {
    const key = (c: Conn) => `${c.last.protocol} ${c.last.src_port} ${c.last.dst_port}`;
    const idsA = new Map(sides.a.conns.map((c) => [key(c), c.last.community_id]));
    const idsB = new Map(sides.b.conns.map((c) => [key(c), c.last.community_id]));
    expect(idsB).toEqual(idsA);
    const wireshark = new Set(sides.a.truth.map((p) => p.communityId));
    expect(new Set(idsA.values())).toEqual(wireshark);
  });
});
