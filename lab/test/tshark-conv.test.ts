/**
 * Agent import versus tshark (root): a capture recorded live in namespaces while a traffic
 * mix runs, on two link types (the Ethernet veth underlay, which also carries the WireGuard
 * UDP conversation, and the raw-IP WireGuard interface), is imported with
 * `flowmesh-agent import FILE --jsonl OUT` and compared with `tshark -z conv,tcp -z conv,udp`:
 * the same TCP and UDP conversations, the same frames each way, and the same IP bytes each
 * way (tshark frame bytes minus each packet's link header).
 */
import { join } from 'node:path';
import { AGENT_CLI, agentBuilt, readJsonLines } from '../src/agent';
import { startCapture, type Capture } from '../src/capture';
import { connections, type Connection, type FlowRecord } from '../src/records';
import { runAsync, sleep } from '../src/run';
import { twoNodeTunnel, type TwoNodeTunnel } from '../src/topology';
import { ping, tcpConnect, tcpTransfer, udpExchange } from '../src/traffic';
import { tsharkConversations, type TsharkConversation } from '../src/tshark';
import { describePrivileged } from './privileged';

const DROPPED_PORT = 7003;

async function importWithAgent(pcap: string, jsonl: string): Promise<Connection<FlowRecord>[]> {
  const out = await runAsync(process.execPath, [AGENT_CLI, 'import', pcap, '--jsonl', jsonl, '--node', 'importer'], { timeoutMs: 30_000 });
  if (out.code !== 0) throw new Error(`agent import ${pcap} failed (${out.code}): ${out.stderr}\n${out.stdout}`);
  return connections(readJsonLines<FlowRecord>(jsonl));
}

/** The agent connection with the same endpoints as a tshark conversation, and whether tshark's A is its initiator. */
function matching(conns: Connection<FlowRecord>[], conv: TsharkConversation): { conn: Connection<FlowRecord>; aIsSrc: boolean }[] {
  return conns.flatMap((conn): { conn: Connection<FlowRecord>; aIsSrc: boolean }[] => {
    const r = conn.last;
    if (r.protocol !== conv.protocol) return [];
    const src = `${r.src_ip}:${r.src_port}`, dst = `${r.dst_ip}:${r.dst_port}`;
    const a = `${conv.a.ip}:${conv.a.port}`, b = `${conv.b.ip}:${conv.b.port}`;
    if (src === a && dst === b) return [{ conn, aIsSrc: true }];
    if (src === b && dst === a) return [{ conn, aIsSrc: false }];
    return [];
  });
}

describePrivileged('agent import of live captures agrees with tshark conversations', () => {
  let mesh: TwoNodeTunnel;
  const files: { underlay: string; tunnel: string } = { underlay: '', tunnel: '' };

  beforeAll(async () => {
    if (!agentBuilt()) throw new Error('the agent is not built: run `npm run build -w agent` first');
    mesh = twoNodeTunnel();
    const { a, b } = mesh;
    b.ns.dropInboundTcp([DROPPED_PORT]);
    const captures: Capture[] = [await startCapture(a.ns, a.underlayIf, 'underlay.pcap'), await startCapture(a.ns, a.wg.name, 'tunnel.pcap')];
    // The mix, over the tunnel and straight over the underlay, both directions.
    for (const [dst, label] of [[b.wg.ip, 'tunnel'], [b.underlayIp, 'underlay']] as const) {
      await tcpTransfer(a.ns, b.ns, dst, 7001, label === 'tunnel' ? 150_000 : 90_000, 5_000);
      await tcpTransfer(a.ns, b.ns, dst, 7001, 1, 70_000);
      await udpExchange(a.ns, b.ns, dst, 7053, 60, 200);
      await udpExchange(a.ns, b.ns, dst, 7054, 1200, 1200);
      await ping(a.ns, dst, 2);
      await tcpConnect(a.ns, dst, 7002);
      await tcpConnect(a.ns, dst, DROPPED_PORT);
    }
    await udpExchange(b.ns, a.ns, a.wg.ip, 7055, 10, 10);
    await tcpTransfer(b.ns, a.ns, a.underlayIp, 7001, 33_333, 0);
    await sleep(200);
    for (const c of captures) await c.stop();
    files.underlay = captures[0].file;
    files.tunnel = captures[1].file;
  }, 50_000);

  afterAll(() => mesh?.lab.destroy());

  test.each(['underlay', 'tunnel'] as const)('%s capture: same conversations, frames and IP bytes each way', async (which) => {
    const file = files[which];
    const conversations = tsharkConversations(file);
    const conns = await importWithAgent(file, join(mesh.lab.workDir, `${which}.jsonl`));
    const tcpUdp = conns.filter((c) => c.last.protocol === 'tcp' || c.last.protocol === 'udp');
    // underlay: 5 TCP (2 transfers, refused, dropped, b->a transfer) + 3 UDP (2 exchanges, WireGuard itself);
    // tunnel: 4 TCP + 3 UDP (2 exchanges a->b, 1 b->a).
    const expected = which === 'underlay' ? { tcp: 5, udp: 3 } : { tcp: 4, udp: 3 };
    for (const protocol of ['tcp', 'udp'] as const) {
      expect([protocol, conversations.filter((c) => c.protocol === protocol).length]).toEqual([protocol, expected[protocol]]);
      expect([protocol, tcpUdp.filter((c) => c.last.protocol === protocol).length]).toEqual([protocol, expected[protocol]]);
    }
    for (const conv of conversations) {
      const found = matching(tcpUdp, conv);
      expect(found).toHaveLength(1);
      const [{ conn, aIsSrc }] = found;
      const agentAtoB = aIsSrc ? [conn.packets_tx, conn.bytes_tx] : [conn.packets_rx, conn.bytes_rx];
      const agentBtoA = aIsSrc ? [conn.packets_rx, conn.bytes_rx] : [conn.packets_tx, conn.bytes_tx];
      expect({ conv: `${conv.protocol} ${conv.a.ip}:${conv.a.port} ${conv.b.ip}:${conv.b.port}`, atob: agentAtoB, btoa: agentBtoA }).toEqual({
        conv: `${conv.protocol} ${conv.a.ip}:${conv.a.port} ${conv.b.ip}:${conv.b.port}`,
        atob: [conv.framesAtoB, conv.ipBytesAtoB],
        btoa: [conv.framesBtoA, conv.ipBytesBtoA],
      });
    }
  });
});
