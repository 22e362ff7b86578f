/** The lab harness itself: a two-node WireGuard tunnel comes up, carries traffic, and leaves nothing behind. */
import { existsSync, readdirSync } from 'node:fs';
import { conversationTotals, readIpPackets, startCapture } from '../src/capture';
import { processAlive, runSync } from '../src/run';
import { twoNodeTunnel, type TwoNodeTunnel } from '../src/topology';
import { ping, tcpConnect, tcpTransfer, udpExchange } from '../src/traffic';
import { transfer } from '../src/wireguard';
import { describePrivileged } from './privileged';

describePrivileged('lab harness: two namespaces joined by wireguard-go', () => {
  let mesh: TwoNodeTunnel;

  beforeAll(() => {
    mesh = twoNodeTunnel();
  });
  afterAll(() => mesh?.lab.destroy());

  test('interfaces get unique fm-<id>- names across namespaces', () => {
    const names = [mesh.a.wg.name, mesh.b.wg.name, ...mesh.lab.namespaces.map((n) => n.name)];
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(new RegExp(`^fm-${mesh.lab.id}-[a-z0-9-]+$`));
    expect(mesh.a.ns.ip('-br', 'link', 'show', mesh.a.wg.name)).toContain('UP');
  });

  test('ping crosses the tunnel and WireGuard counts the handshake and data', async () => {
    const result = await ping(mesh.a.ns, mesh.b.wg.ip, 3);
    expect(result).toEqual({ transmitted: 3, received: 3 });
    const counters = transfer(mesh.a.wg).get(mesh.b.wg.publicKey);
    expect(counters?.tx).toBeGreaterThan(0);
    expect(counters?.rx).toBeGreaterThan(0);
  });

  test('TCP transfer of exact sizes both ways, UDP request/response; tcpdump sees it', async () => {
    const capture = await startCapture(mesh.b.ns, mesh.b.wg.name, 'b.pcap');
    const tcp = await tcpTransfer(mesh.a.ns, mesh.b.ns, mesh.b.wg.ip, 5001, 200_000, 3_000);
    await capture.stop();
    const truth = conversationTotals(readIpPackets(capture.file), {
      protocol: 6, srcIp: mesh.a.wg.ip, dstIp: mesh.b.wg.ip, srcPort: tcp.clientPort, dstPort: 5001,
    });
    // IP bytes = payload + at least 40 bytes of IPv4+TCP header per packet.
    expect(truth.forward.bytes - 200_000).toBeGreaterThanOrEqual(40 * truth.forward.packets);
    expect(truth.reverse.bytes - 3_000).toBeGreaterThanOrEqual(40 * truth.reverse.packets);
    expect(truth.forward.bytes - 200_000).toBeLessThanOrEqual(120 * truth.forward.packets);
    expect(truth.forward.tcpFlags & 0x03).toBe(0x03); // SYN and FIN from the client
    const ids = new Set(readIpPackets(capture.file).map((p) => p.communityId));
    expect([...ids]).toEqual([expect.stringMatching(/^1:[A-Za-z0-9+/]{27}=$/)]);
    expect(tcp.clientSent).toBe(200_000);
    expect(tcp.serverReceived).toBe(200_000);
    expect(tcp.clientReceived).toBe(3_000);
    expect(tcp.clientPort).toBeGreaterThan(1023);
    const udp = await udpExchange(mesh.b.ns, mesh.a.ns, mesh.a.wg.ip, 5353, 100, 300);
    expect(udp.received).toBe(300);
  });

  test('closed port is refused; firewalled port times out', async () => {
    expect(await tcpConnect(mesh.a.ns, mesh.b.wg.ip, 5002)).toBe('refused');
    mesh.b.ns.dropInboundTcp([5003]);
    expect(await tcpConnect(mesh.a.ns, mesh.b.wg.ip, 5003)).toBe('timeout');
  });

  test('tear-down removes namespaces, wireguard-go processes and sockets', () => {
    const { lab } = mesh;
    const pids = [mesh.a.wg.pid, mesh.b.wg.pid];
    const sockets = [mesh.a.wg.name, mesh.b.wg.name].map((n) => `/var/run/wireguard/${n}.sock`);
    expect(lab.destroy()).toEqual([]);
    const left = runSync('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith(`fm-${lab.id}-`));
    expect(left).toEqual([]);
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
    for (const socket of sockets) expect(existsSync(socket)).toBe(false);
    expect(existsSync(lab.workDir)).toBe(false);
    expect(readdirSync('/var/run/wireguard').filter((f) => f.startsWith(`fm-${lab.id}-`))).toEqual([]);
  });
});
