/**
 * NAT linking parts without a kernel: conntrack's text output (lines as conntrack-tools
 * 1.4.7 prints them for a masquerading gateway) into connections, and the NatTable's
 * lookups by either tuple and orientation, its grace period and its bound. The real
 * conntrack feed on a real masquerading gateway is tested in the lab (lab/test/gateway.test.ts).
 */
import { communityIdV1 } from '../src/flow/communityId';
import { parseIp } from '../src/flow/addresses';
import { NatTable, parseConntrackLine } from '../src/nat';

const NEW_TCP = '    [NEW] tcp      6 120 SYN_SENT src=10.9.0.2 dst=198.51.100.2 sport=39874 dport=8000 [UNREPLIED] src=198.51.100.2 dst=198.51.100.1 sport=8000 dport=39874';
const DESTROY_TCP = '[DESTROY] tcp      6 src=10.9.0.2 dst=198.51.100.2 sport=39874 dport=8000 src=198.51.100.2 dst=198.51.100.1 sport=8000 dport=39874 [ASSURED]';
const LIST_ICMP = 'icmp     1 28 src=10.9.0.2 dst=198.51.100.2 type=8 code=0 id=20811 src=198.51.100.2 dst=198.51.100.1 type=0 code=0 id=3 mark=0 use=1';
const NEW_UDP6 = '    [NEW] udp      17 30 src=fd00:9::2 dst=2001:db8::2 sport=41271 dport=53 [UNREPLIED] src=2001:db8::2 dst=2001:db8:0:0::1 sport=53 dport=61000';

const cid = (proto: number, s: string, sp: number, d: string, dp: number) => communityIdV1(proto, parseIp(s)!.bytes, parseIp(d)!.bytes, sp, dp);

describe('conntrack output', () => {
  it('parses events and dump lines into original and reply tuples', () => {
    expect(parseConntrackLine(NEW_TCP)).toEqual({
      event: 'NEW',
      connection: {
        protocol: 6, icmpType: null, icmpCode: null,
        original: { src: '10.9.0.2', dst: '198.51.100.2', srcPort: 39874, dstPort: 8000 },
        reply: { src: '198.51.100.2', dst: '198.51.100.1', srcPort: 8000, dstPort: 39874 },
      },
    });
    expect(parseConntrackLine(DESTROY_TCP)?.event).toBe('DESTROY');
    // ICMP: the echo identifier plays the ports on each side (a masquerade may change it)
    expect(parseConntrackLine(LIST_ICMP)).toEqual({
      event: null,
      connection: {
        protocol: 1, icmpType: 8, icmpCode: 0,
        original: { src: '10.9.0.2', dst: '198.51.100.2', srcPort: 20811, dstPort: 20811 },
        reply: { src: '198.51.100.2', dst: '198.51.100.1', srcPort: 3, dstPort: 3 },
      },
    });
    expect(parseConntrackLine(NEW_UDP6)?.connection.reply.dst).toBe('2001:db8:0:0::1');
    // a connection id printed after the reply tuple (-o id) is not part of it
    expect(parseConntrackLine(`${NEW_TCP} id=1332164917`)?.connection.reply).toEqual({ src: '198.51.100.2', dst: '198.51.100.1', srcPort: 8000, dstPort: 39874 });
  });

  it.each([
    'conntrack v1.4.7 (conntrack-tools): 3 flow events have been shown.',
    'NOTICE: Netlink socket buffer size has been set to 16777216 bytes.',
    '',
    '[NEW] tcp 6 120 SYN_SENT src=10.9.0.2 dst=198.51.100.2 sport=1 dport=2',
    '[NEW] tcp 6 120 src=10.9.0.2 dst=198.51.100.2 sport=99999 dport=2 src=198.51.100.2 dst=198.51.100.1 sport=2 dport=1',
    '[NEW] tcp x 120 src=10.9.0.2 dst=198.51.100.2 sport=1 dport=2 src=198.51.100.2 dst=198.51.100.1 sport=2 dport=1',
  ])('ignores what is not a connection: %j', (line) => {
    expect(parseConntrackLine(line)).toBeNull();
  });
});

describe('NatTable', () => {
  const add = (table: NatTable, line: string) => table.add(parseConntrackLine(line)!.connection);

  it('answers by either tuple, oriented like the question, with the other side\'s Community ID', () => {
    const table = new NatTable({ maxConnections: 10, graceMs: 1000 });
    expect(add(table, NEW_TCP)).toBe(true);
    // the pre-NAT record (tunnel side) sees its translated tuple
    expect(table.lookup(6, '10.9.0.2', 39874, '198.51.100.2', 8000)).toMatchObject({
      original: true, srcIp: '198.51.100.1', srcPort: 39874, dstIp: '198.51.100.2', dstPort: 8000,
      communityId: cid(6, '198.51.100.1', 39874, '198.51.100.2', 8000),
    });
    // the post-NAT record (uplink side) sees the original one
    expect(table.lookup(6, '198.51.100.1', 39874, '198.51.100.2', 8000)).toMatchObject({
      original: false, srcIp: '10.9.0.2', srcPort: 39874, dstIp: '198.51.100.2', dstPort: 8000,
      communityId: cid(6, '10.9.0.2', 39874, '198.51.100.2', 8000),
    });
    // asked the other way round (a record whose initiator is the server), the answer turns too
    expect(table.lookup(6, '198.51.100.2', 8000, '198.51.100.1', 39874)).toMatchObject({ srcIp: '198.51.100.2', srcPort: 8000, dstIp: '10.9.0.2', dstPort: 39874 });
    expect(table.lookup(6, '10.9.0.2', 39874, '198.51.100.2', 8001)).toBeNull();
    expect(table.lookup(17, '10.9.0.2', 39874, '198.51.100.2', 8000)).toBeNull();
  });

  it('ICMP echo: linked by identifier, Community IDs by type and code; IPv6 addresses in canonical form', () => {
    const table = new NatTable({ maxConnections: 10, graceMs: 1000 });
    add(table, LIST_ICMP);
    expect(table.lookup(1, '198.51.100.1', 3, '198.51.100.2', 3)).toMatchObject({
      original: false, srcIp: '10.9.0.2', srcPort: 20811, dstPort: 20811, communityId: cid(1, '10.9.0.2', 8, '198.51.100.2', 0),
    });
    add(table, NEW_UDP6);
    expect(table.lookup(17, '2001:db8::1', 61000, '2001:db8::2', 53)).toMatchObject({ srcIp: 'fd00:9::2', srcPort: 41271 });
  });

  it('ignores untranslated connections and keeps a destroyed one for the grace period', () => {
    let now = 0;
    const table = new NatTable({ maxConnections: 10, graceMs: 1000, now: () => now });
    expect(add(table, '[NEW] udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=5 dport=6 src=10.0.0.2 dst=10.0.0.1 sport=6 dport=5')).toBe(false);
    add(table, NEW_TCP);
    table.destroy(parseConntrackLine(DESTROY_TCP)!.connection);
    now = 999;
    add(table, LIST_ICMP); // any event expires what is due
    expect(table.lookup(6, '10.9.0.2', 39874, '198.51.100.2', 8000)).not.toBeNull();
    now = 1000;
    add(table, NEW_UDP6);
    expect(table.lookup(6, '10.9.0.2', 39874, '198.51.100.2', 8000)).toBeNull();
    expect(table.stats.connections).toBe(2);
  });

  it('a new connection on the same tuple replaces the old one; the oldest goes when full', () => {
    const table = new NatTable({ maxConnections: 2, graceMs: 1000 });
    add(table, NEW_TCP);
    add(table, NEW_TCP.replace('dst=198.51.100.1 sport=8000 dport=39874', 'dst=198.51.100.1 sport=8000 dport=40000'));
    expect(table.lookup(6, '198.51.100.1', 39874, '198.51.100.2', 8000)).toBeNull();
    expect(table.lookup(6, '10.9.0.2', 39874, '198.51.100.2', 8000)?.srcPort).toBe(40000);
    add(table, LIST_ICMP);
    add(table, NEW_UDP6);
    expect(table.stats).toEqual({ connections: 2, evicted: 1 });
    expect(table.lookup(6, '10.9.0.2', 39874, '198.51.100.2', 8000)).toBeNull();
  });
});
