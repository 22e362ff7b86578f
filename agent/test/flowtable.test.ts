/**
 * Flow table semantics with hand-built packets: keys and initiators, direction, counters,
 * per-side flags, Zeek conn_state, TCP close/linger, idle/active timeouts, eviction, flush.
 */
import type { DecodedPacket } from '../src/decode/packet';
import { FlowTable, type FlowAnnotator, type FlowTimeouts } from '../src/flowtable/flowTable';
import { LocalAddresses } from '../src/flow/direction';
import { parseIp } from '../src/flow/addresses';
import { WireGuardRoutes } from '../src/inventory';
import { NatTable, parseConntrackLine } from '../src/nat';
import type { FlowRecord } from '../src/model/flow';
import { decodedPacket } from './support/decoded-packet';
import { MemorySink } from './support/memory-sink';

const T0 = 1_700_000_000_000_000;
const S = 1_000_000;

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10 };
const flagsOf = (s: string) => [...s].reduce((acc, c) => acc | FLAG_BITS[c], 0);

interface P {
  t: number; // seconds after T0
  src: string;
  dst: string;
  sp?: number;
  dp?: number;
  proto?: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | number;
  flags?: string;
  bytes?: number;
  payload?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
}

const PROTO: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };

function packet(d: P): DecodedPacket {
  return decodedPacket(d.src, d.dst, {
    tsUs: T0 + Math.round(d.t * S),
    protocol: typeof d.proto === 'number' ? d.proto : PROTO[d.proto ?? 'tcp'],
    srcPort: d.sp ?? 0,
    dstPort: d.dp ?? 0,
    ipBytes: d.bytes ?? 40,
    tcpFlags: flagsOf(d.flags ?? ''),
    payloadLength: d.payload ?? 0,
    icmpType: d.icmpType ?? 0,
    icmpCode: d.icmpCode ?? 0,
    icmpId: d.icmpId ?? 0,
  });
}

const noNames: FlowAnnotator = {
  direction: (src, dst, v) => LocalAddresses.of(['10.0.0.1', 'fd00::1']).direction(src, dst, v),
  endpoint: () => ({ name: '', type: 'unknown' }),
  domain: () => '',
};

function table(opts: { maxFlows?: number; timeouts?: Partial<FlowTimeouts>; annotator?: FlowAnnotator } = {}) {
  const sink = new MemorySink();
  const t = new FlowTable(
    { node: 'n1', interfaceName: 'test', annotator: opts.annotator ?? noNames, maxFlows: opts.maxFlows, timeouts: opts.timeouts, bootId: 'b' },
    sink,
  );
  const feed = (...ps: P[]) => ps.forEach((d) => t.process(packet(d)));
  const flush = () => { t.flushAll(); return sink.records; };
  return { t, sink, feed, flush };
}

const C = '10.0.0.1';
const SRV = '93.184.216.34';

/** A TCP conversation client:40000 <-> server:80 given as [fromClient, flags, payload] steps, 0.01 s apart. */
function tcp(steps: [boolean, string, number?][], t0 = 0): P[] {
  return steps.map(([fromClient, flags, payload], i) => ({
    t: t0 + i * 0.01,
    src: fromClient ? C : SRV,
    dst: fromClient ? SRV : C,
    sp: fromClient ? 40000 : 80,
    dp: fromClient ? 80 : 40000,
    flags,
    payload: payload ?? 0,
    bytes: 40 + (payload ?? 0),
  }));
}

describe('keys, initiator and counters', () => {
  it('puts both directions in one flow with per-direction counters and per-side flags', () => {
    const { feed, flush } = table();
    feed(...tcp([[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'PA', 100], [false, 'PA', 300], [true, 'FA'], [false, 'FA'], [true, 'A']]));
    const [r, ...rest] = flush();
    expect(rest).toHaveLength(0);
    expect(r).toMatchObject({
      src_ip: C, src_port: 40000, dst_ip: SRV, dst_port: 80, protocol: 'tcp', protocol_number: 6, ip_version: 4,
      packets_tx: 5, packets_rx: 3, bytes_tx: 40 * 5 + 100, bytes_rx: 40 * 3 + 300,
      tcp_flags_src: flagsOf('SAPF'), tcp_flags_dst: flagsOf('SAPF'),
      conn_state: 'SF', end_reason: 'tcp_close', record_kind: 'final', seq: 0,
      flow_start_us: T0, start_us: T0, end_us: T0 + 0.07 * S,
      direction: 'outbound', node: 'n1', interface: 'test',
    });
    expect(r.community_id).toMatch(/^1:/);
  });

  it('takes the SYN sender as initiator even when it uses a service port', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: '198.51.100.7', sp: 443, dst: C, dp: 50000, flags: 'S' });
    expect(flush()[0]).toMatchObject({ src_ip: '198.51.100.7', src_port: 443, dst_port: 50000, direction: 'inbound' });
  });

  it('swaps the initiator when the first packet is a SYN-ACK', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: SRV, sp: 8, dst: C, dp: 9, flags: 'SA' });
    expect(flush()[0]).toMatchObject({ src_ip: C, src_port: 9, dst_ip: SRV, dst_port: 8, packets_tx: 0, packets_rx: 1 });
  });

  it('corrects mid-flow captures by service port (server -> client first)', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: SRV, sp: 443, dst: C, dp: 51000, flags: 'PA', payload: 10, bytes: 50 });
    feed({ t: 0.1, src: C, sp: 51000, dst: SRV, dp: 443, flags: 'A' });
    const [r] = flush();
    expect(r).toMatchObject({ src_ip: C, src_port: 51000, dst_port: 443, packets_tx: 1, packets_rx: 1, bytes_rx: 50, conn_state: 'OTH' });
  });

  it('keeps the first sender as initiator when no port is a service port', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: SRV, sp: 40001, dst: C, dp: 40002, proto: 'udp' });
    expect(flush()[0]).toMatchObject({ src_ip: SRV, src_port: 40001, conn_state: 'S0', direction: 'inbound' });
  });

  it('UDP response first (DNS) is attributed to the client', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: '8.8.8.8', sp: 53, dst: C, dp: 5353 + 1, proto: 'udp', bytes: 100 });
    expect(flush()[0]).toMatchObject({ src_ip: C, dst_ip: '8.8.8.8', dst_port: 53, packets_rx: 1, bytes_rx: 100, conn_state: 'SHR' });
  });

  it('direction: outbound, inbound, forwarded, both local = outbound', () => {
    const { feed, flush } = table();
    feed(
      { t: 0, src: C, sp: 10000, dst: '1.1.1.1', dp: 2000, proto: 'udp' },
      { t: 0, src: '1.1.1.1', sp: 10000, dst: C, dp: 2001, proto: 'udp' },
      { t: 0, src: '1.1.1.1', sp: 10000, dst: '2.2.2.2', dp: 2002, proto: 'udp' },
      { t: 0, src: C, sp: 10000, dst: C, dp: 2003, proto: 'udp' },
    );
    expect(flush().map((r) => [r.dst_port, r.direction])).toEqual([
      [2000, 'outbound'], [2001, 'inbound'], [2002, 'forwarded'], [2003, 'outbound'],
    ]);
  });

  it('keeps IPv4 and IPv6 and different ports apart; formats IPv6', () => {
    const { feed, flush } = table();
    feed(
      { t: 0, src: 'fd00::1', sp: 1000, dst: '2001:db8::2', dp: 53, proto: 'udp' },
      { t: 0.1, src: '2001:db8::2', sp: 53, dst: 'fd00::1', dp: 1000, proto: 'udp' },
      { t: 0.2, src: 'fd00::1', sp: 1001, dst: '2001:db8::2', dp: 53, proto: 'udp' },
      { t: 0.3, src: '10.0.0.1', sp: 1000, dst: '10.0.0.2', dp: 53, proto: 'udp' },
    );
    const rs = flush();
    expect(rs).toHaveLength(3);
    expect(rs.find((r) => r.src_port === 1000 && r.ip_version === 6)).toMatchObject({
      src_ip: 'fd00::1', dst_ip: '2001:db8::2', packets_tx: 1, packets_rx: 1, conn_state: 'SF', direction: 'outbound',
    });
  });

  it('ICMP echo: identifier keys the flow (ports 0 in the record); other ICMP keyed by type/code', () => {
    const { feed, flush } = table();
    feed(
      { t: 0, src: C, dst: '8.8.8.8', proto: 'icmp', icmpType: 8, icmpId: 7, bytes: 84 },
      { t: 0.01, src: '8.8.8.8', dst: C, proto: 'icmp', icmpType: 0, icmpId: 7, bytes: 84 },
      { t: 1, src: C, dst: '8.8.8.8', proto: 'icmp', icmpType: 8, icmpId: 8, bytes: 84 },
      { t: 2, src: '192.0.2.1', dst: C, proto: 'icmp', icmpType: 3, icmpCode: 3, bytes: 56 },
      { t: 3, src: '192.0.2.1', dst: C, proto: 'icmp', icmpType: 3, icmpCode: 3, bytes: 56 },
      { t: 4, src: '192.0.2.1', dst: C, proto: 'icmp', icmpType: 3, icmpCode: 1, bytes: 56 },
      { t: 5, src: 'fd00::1', dst: 'fd00::2', proto: 'icmpv6', icmpType: 128, icmpId: 7, bytes: 104 },
      { t: 5.1, src: 'fd00::2', dst: 'fd00::1', proto: 'icmpv6', icmpType: 129, icmpId: 7, bytes: 104 },
    );
    const rs = flush();
    expect(rs.map((r) => [r.protocol, r.src_ip, r.src_port, r.dst_port, r.icmp_type, r.icmp_code, r.icmp_id, r.packets_tx, r.packets_rx])).toEqual([
      ['icmp', C, 0, 0, 8, 0, 7, 1, 1],
      ['icmp', C, 0, 0, 8, 0, 8, 1, 0],
      ['icmp', '192.0.2.1', 0, 0, 3, 3, null, 2, 0],
      ['icmp', '192.0.2.1', 0, 0, 3, 1, null, 1, 0],
      ['icmpv6', 'fd00::1', 0, 0, 128, 0, 7, 1, 1],
    ]);
    expect(rs[0].conn_state).toBe('SF');
    expect(rs[2].conn_state).toBe('S0');
    // Community ID ignores the identifier (by its specification): two pings of one host share it
    expect(rs[0].community_id).toBe(rs[1].community_id);
    expect(rs.filter((r) => r.protocol !== 'icmp' && r.protocol !== 'icmpv6').every((r) => r.icmp_id === null)).toBe(true);
  });

  it('an echo reply seen first makes its receiver the initiator and reports the request type', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: '8.8.8.8', dst: C, proto: 'icmp', icmpType: 0, icmpId: 9 });
    expect(flush()[0]).toMatchObject({ src_ip: C, dst_ip: '8.8.8.8', icmp_type: 8, packets_rx: 1, src_port: 0 });
  });

  it('computes the Community ID of the flow (direction independent)', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: '66.35.250.204', sp: 80, dst: '128.232.110.120', dp: 34855, flags: 'SA' });
    expect(flush()[0].community_id).toBe('1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
  });

  it('other protocols: no ports', () => {
    const { feed, flush } = table();
    feed({ t: 0, src: C, dst: '10.9.9.9', proto: 47, sp: 0, dp: 0, bytes: 1400 });
    expect(flush()[0]).toMatchObject({ protocol: 'ip-47', protocol_number: 47, src_port: 0, dst_port: 0, icmp_type: null, conn_state: 'S0' });
  });
});

describe('conn_state (Zeek vocabulary)', () => {
  const cases: [string, [boolean, string, number?][]][] = [
    ['S0', [[true, 'S'], [true, 'S']]],
    ['REJ', [[true, 'S'], [false, 'RA']]],
    ['S1', [[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'PA', 10]]],
    ['SF', [[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'FA'], [false, 'FA'], [true, 'A']]],
    ['S2', [[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'FA']]],
    ['S3', [[true, 'S'], [false, 'SA'], [true, 'A'], [false, 'FA']]],
    ['RSTO', [[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'R']]],
    ['RSTR', [[true, 'S'], [false, 'SA'], [true, 'A'], [false, 'R']]],
    ['RSTOS0', [[true, 'S'], [true, 'R']]],
    ['RSTRH', [[false, 'SA'], [false, 'R']]],
    ['SH', [[true, 'S'], [true, 'F']]],
    ['SHR', [[false, 'SA'], [false, 'FA']]],
    ['OTH', [[true, 'PA', 10], [false, 'A']]],
    // Zeek details: a RST after the FIN exchange changes nothing; FIN then RST from one side
    // followed by the peer's FIN is still a normal termination
    ['SF', [[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'FA'], [false, 'FA'], [true, 'R']]],
    ['SF', [[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'FA'], [true, 'R'], [false, 'FA']]],
    ['RSTO', [[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'FA'], [true, 'R']]],
    ['REJ', [[true, 'S'], [false, 'R']]],
    ['S1', [[true, 'S'], [false, 'SA']]],
  ];
  it.each(cases)('%s', (state, steps) => {
    const { feed, flush } = table();
    feed(...tcp(steps));
    const rs = flush();
    expect(rs).toHaveLength(1);
    expect(rs[0].conn_state).toBe(state);
  });
});

describe('lifetime', () => {
  it('TCP close: stragglers within the linger join; later packets start a new flow', () => {
    const { t, sink, feed, flush } = table();
    feed(...tcp([[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'FA'], [false, 'FA']]));
    feed({ t: 1, src: C, sp: 40000, dst: SRV, dp: 80, flags: 'A' }); // final ACK, late
    t.advanceTime(T0 + 2.9 * S);
    expect(sink.records).toHaveLength(0);
    t.advanceTime(T0 + 3 * S);
    expect(sink.records).toHaveLength(1);
    expect(sink.records[0]).toMatchObject({ end_reason: 'tcp_close', packets_tx: 4, packets_rx: 2, end_us: T0 + S });
    feed({ t: 4, src: C, sp: 40000, dst: SRV, dp: 80, flags: 'A' });
    const rs = flush();
    expect(rs).toHaveLength(2);
    expect(rs[1]).toMatchObject({ packets_tx: 1, end_reason: 'shutdown', conn_state: 'OTH' });
    expect(rs[1].flow_id).not.toBe(rs[0].flow_id);
  });

  it('RST ends the flow after the linger with end_reason tcp_reset', () => {
    const { t, sink, feed } = table({ timeouts: { tcpLingerS: 5 } });
    feed(...tcp([[true, 'S'], [false, 'RA']]));
    t.advanceTime(T0 + 4 * S);
    expect(sink.records).toHaveLength(0);
    t.advanceTime(T0 + 6 * S);
    expect(sink.records).toMatchObject([{ end_reason: 'tcp_reset', conn_state: 'REJ', tcp_flags_dst: flagsOf('RA') }]);
  });

  it('a new SYN on a closed 4-tuple starts a new flow at once', () => {
    const { feed, flush } = table();
    feed(...tcp([[true, 'S'], [false, 'RA']]));
    feed(...tcp([[true, 'S'], [false, 'SA']], 0.5));
    const rs = flush();
    expect(rs.map((r) => [r.end_reason, r.conn_state])).toEqual([['tcp_reset', 'REJ'], ['shutdown', 'S1']]);
  });

  it('idle timeouts per protocol (packet time): UDP 60 s, unestablished TCP 30 s, ICMP 30 s', () => {
    const { feed, flush } = table();
    feed(
      { t: 0, src: C, sp: 1000, dst: '1.1.1.1', dp: 53, proto: 'udp' },
      { t: 59.9, src: C, sp: 1000, dst: '1.1.1.1', dp: 53, proto: 'udp' }, // same flow
      { t: 120, src: C, sp: 1000, dst: '1.1.1.1', dp: 53, proto: 'udp' }, // new flow
      { t: 0, src: C, sp: 2000, dst: SRV, dp: 80, flags: 'S' },
      { t: 31, src: C, sp: 2000, dst: SRV, dp: 80, flags: 'S' },
    );
    const rs = flush();
    const udp = rs.filter((r) => r.protocol === 'udp');
    expect(udp.map((r) => [r.packets_tx, r.end_reason])).toEqual([[2, 'idle_timeout'], [1, 'shutdown']]);
    const syns = rs.filter((r) => r.protocol === 'tcp');
    // the second SYN (t=31) is idle too by the last packet (t=120): flushed as idle_timeout
    expect(syns.map((r) => [r.packets_tx, r.end_reason, r.conn_state])).toEqual([[1, 'idle_timeout', 'S0'], [1, 'idle_timeout', 'S0']]);
  });

  it('established TCP survives 200 s of silence (300 s default) but not 301 s', () => {
    const { feed, flush } = table({ timeouts: { activeTimeoutS: 10_000 } });
    feed(...tcp([[true, 'S'], [false, 'SA'], [true, 'A']]));
    feed({ t: 200, src: C, sp: 40000, dst: SRV, dp: 80, flags: 'A' });
    feed({ t: 501.1, src: C, sp: 40000, dst: SRV, dp: 80, flags: 'A' });
    expect(flush().map((r) => [r.packets_tx + r.packets_rx, r.end_reason])).toEqual([[4, 'idle_timeout'], [1, 'shutdown']]);
  });

  it('the sweep ends idle flows without further packets', () => {
    const { t, sink, feed } = table();
    feed({ t: 0, src: C, sp: 1000, dst: '1.1.1.1', dp: 53, proto: 'udp' });
    t.advanceTime(T0 + 59 * S);
    expect(sink.records).toHaveLength(0);
    t.advanceTime(T0 + 60 * S);
    expect(sink.records).toMatchObject([{ end_reason: 'idle_timeout', record_kind: 'final' }]);
    expect(t.stats.activeFlows).toBe(0);
  });

  it('active timeout: interim deltas with one flow_id and increasing seq sum to the totals', () => {
    const { feed, flush } = table({ timeouts: { activeTimeoutS: 60 } });
    const ps: P[] = [];
    for (let i = 0; i <= 30; i++) {
      ps.push({ t: i * 10, src: C, sp: 15000, dst: '1.1.1.1', dp: 15001, proto: 'udp', bytes: 100 + i });
      ps.push({ t: i * 10 + 0.5, src: '1.1.1.1', sp: 15001, dst: C, dp: 15000, proto: 'udp', bytes: 200 });
    }
    feed(...ps);
    const rs = flush();
    expect(rs.length).toBe(5 + 1);
    expect(new Set(rs.map((r) => r.flow_id)).size).toBe(1);
    expect(rs.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(rs.slice(0, -1).every((r) => r.record_kind === 'interim' && r.end_reason === 'active_timeout')).toBe(true);
    expect(rs[5]).toMatchObject({ record_kind: 'final', end_reason: 'shutdown' });
    const sum = (k: 'packets_tx' | 'packets_rx' | 'bytes_tx' | 'bytes_rx') => rs.reduce((a, r) => a + r[k], 0);
    expect([sum('packets_tx'), sum('packets_rx'), sum('bytes_rx')]).toEqual([31, 31, 31 * 200]);
    expect(sum('bytes_tx')).toBe(ps.filter((p) => p.src === C).reduce((a, p) => a + (p.bytes ?? 0), 0));
    // periods tile the flow: each starts after the previous ends, all share flow_start_us
    for (let i = 1; i < rs.length; i++) expect(rs[i].start_us).toBeGreaterThan(rs[i - 1].end_us);
    expect(rs.every((r) => r.flow_start_us === T0)).toBe(true);
    expect(rs[0]).toMatchObject({ start_us: T0, end_us: T0 + 50.5 * S, packets_tx: 6 });
  });

  it('TCP interim records carry only their period\'s flags; conn_state is cumulative', () => {
    const { feed, flush } = table({ timeouts: { activeTimeoutS: 1 } });
    feed(...tcp([[true, 'S'], [false, 'SA'], [true, 'A']]));
    feed({ t: 2, src: C, sp: 40000, dst: SRV, dp: 80, flags: 'PA', payload: 5, bytes: 45 });
    const rs = flush();
    expect(rs.map((r) => [r.tcp_flags_src, r.tcp_flags_dst, r.conn_state])).toEqual([
      [flagsOf('SA'), flagsOf('SA'), 'S1'],
      [flagsOf('PA'), 0, 'S1'],
    ]);
  });

  it('a quiet long-lived TCP flow is reported by the sweep after the active timeout, then ends with an empty final record', () => {
    const { t, sink, feed } = table({ timeouts: { activeTimeoutS: 60 } });
    feed(...tcp([[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'PA', 100], [false, 'PA', 500]]));
    t.advanceTime(T0 + 59 * S);
    expect(sink.records).toHaveLength(0);
    t.advanceTime(T0 + 60 * S);
    expect(sink.records).toMatchObject([{ record_kind: 'interim', end_reason: 'active_timeout', seq: 0, packets_tx: 3, packets_rx: 2, conn_state: 'S1' }]);
    t.advanceTime(T0 + 300.04 * S); // established idle timeout: 300 s after the last packet (t = 0.04)
    expect(sink.records).toHaveLength(2);
    expect(sink.records[1]).toMatchObject({
      record_kind: 'final', end_reason: 'idle_timeout', seq: 1, packets_tx: 0, packets_rx: 0, bytes_tx: 0, bytes_rx: 0,
      start_us: T0 + 0.04 * S, end_us: T0 + 0.04 * S, flow_id: sink.records[0].flow_id, conn_state: 'S1',
    });
  });

  it('the sweep leaves periods of flows about to idle out to their final record (no interim + empty final)', () => {
    const { t, sink, feed } = table({ timeouts: { activeTimeoutS: 60 } });
    feed({ t: 0, src: C, sp: 20000, dst: '1.1.1.1', dp: 20001, proto: 'udp' }, { t: 1, src: '1.1.1.1', sp: 20001, dst: C, dp: 20000, proto: 'udp' });
    t.advanceTime(T0 + 60.5 * S);
    expect(sink.records).toHaveLength(0);
    t.advanceTime(T0 + 61 * S);
    expect(sink.records).toMatchObject([{ record_kind: 'final', end_reason: 'idle_timeout', seq: 0, packets_tx: 1, packets_rx: 1 }]);
  });

  it('packets after a sweep interim start a new period', () => {
    const { t, sink, feed, flush } = table({ timeouts: { activeTimeoutS: 10 } });
    feed(...tcp([[true, 'S'], [false, 'SA'], [true, 'A']]));
    t.advanceTime(T0 + 10 * S);
    feed({ t: 15, src: C, sp: 40000, dst: SRV, dp: 80, flags: 'PA', payload: 10, bytes: 50 });
    const rs = flush();
    expect(sink.records).toBe(rs);
    expect(rs.map((r) => [r.seq, r.record_kind, r.packets_tx + r.packets_rx, r.start_us - T0])).toEqual([
      [0, 'interim', 3, 0],
      [1, 'final', 1, 15 * S],
    ]);
  });

  it('evicts the least recently active flow when full and counts it', () => {
    const { t, sink, feed } = table({ maxFlows: 4 });
    for (let i = 0; i < 4; i++) feed({ t: i, src: C, sp: 1000 + i, dst: '1.1.1.1', dp: 53, proto: 'udp' });
    feed({ t: 4, src: C, sp: 1000, dst: '1.1.1.1', dp: 53, proto: 'udp' }); // refresh flow 0
    feed({ t: 5, src: C, sp: 2000, dst: '1.1.1.1', dp: 53, proto: 'udp' });
    feed({ t: 6, src: C, sp: 2001, dst: '1.1.1.1', dp: 53, proto: 'udp' });
    expect(sink.records.map((r) => [r.src_port, r.end_reason])).toEqual([[1001, 'evicted'], [1002, 'evicted']]);
    expect(t.stats).toMatchObject({ evictions: 2, activeFlows: 4, flowsCreated: 6 });
  });

  it('shutdown flush emits every active flow', () => {
    const { t, feed, flush } = table();
    for (let i = 0; i < 100; i++) feed({ t: i / 100, src: C, sp: 1000 + i, dst: '1.1.1.1', dp: 53, proto: 'udp' });
    const rs = flush();
    expect(rs).toHaveLength(100);
    expect(rs.every((r) => r.end_reason === 'shutdown' && r.record_kind === 'final')).toBe(true);
    expect(t.stats.activeFlows).toBe(0);
  });

  it('flow ids are unique and prefixed by the boot id', () => {
    const { feed, flush } = table();
    for (let i = 0; i < 10; i++) feed({ t: 0, src: C, sp: 1000 + i, dst: '1.1.1.1', dp: 53, proto: 'udp' });
    const ids = flush().map((r) => r.flow_id);
    expect(new Set(ids).size).toBe(10);
    expect(ids.every((id) => id.startsWith('b-'))).toBe(true);
  });
});

describe('latency', () => {
  /** A TCP conversation with explicit times (seconds after T0). */
  const at = (steps: [number, boolean, string][]): P[] =>
    steps.map(([t, fromClient, flags]) => ({ t, src: fromClient ? C : SRV, dst: fromClient ? SRV : C, sp: fromClient ? 40000 : 80, dp: fromClient ? 80 : 40000, flags }));

  it('handshake legs: first SYN -> first SYN/ACK -> first ACK after it (retransmissions included)', () => {
    const { feed, flush } = table();
    feed(...at([[0, true, 'S'], [1, true, 'S'], [1.02, false, 'SA'], [1.05, false, 'SA'], [1.1, true, 'A'], [1.2, true, 'PA'], [1.3, true, 'A']]));
    expect(flush()[0]).toMatchObject({ tcp_synack_us: 1.02 * S, tcp_ack_us: 0.08 * S });
  });

  it('no handshake time without the whole handshake: SYN only, SYN then RST, mid-stream, SYN/ACK then RST', () => {
    const cases: [number, boolean, string][][] = [
      [[0, true, 'S'], [1, true, 'S']],
      [[0, true, 'S'], [0.01, false, 'RA']],
      [[0, false, 'PA'], [0.01, true, 'A']],
      [[0, true, 'S'], [0.01, false, 'SA'], [0.02, true, 'R']],
      [[0, false, 'SA'], [0.01, true, 'A']],
    ];
    for (const steps of cases) {
      const { feed, flush } = table();
      feed(...at(steps));
      expect(flush().map((r) => [r.tcp_synack_us, r.tcp_ack_us])).toEqual([[null, null]]);
    }
  });

  it('each measurement is carried by exactly one record: the first emitted after it', () => {
    const { feed, flush } = table({ timeouts: { activeTimeoutS: 5 } });
    feed(...at([[0, true, 'S'], [0.01, false, 'SA'], [0.03, true, 'A'], [6, true, 'PA'], [12, true, 'PA']]));
    const rs = flush();
    expect(rs.map((r) => [r.record_kind, r.tcp_synack_us, r.tcp_ack_us])).toEqual([
      ['interim', 0.01 * S, 0.02 * S], ['interim', null, null], ['final', null, null],
    ]);
  });

  it('DNS response time: the first awaited query of the period (A then AAAA in parallel), by message id', () => {
    const { t, flush } = table({ timeouts: { activeTimeoutS: 5 } });
    const dns = (time: number, query: boolean, id: number) => {
      const p = packet({ t: time, src: query ? C : '10.0.1.53', dst: query ? '10.0.1.53' : C, sp: query ? 33000 : 53, dp: query ? 53 : 33000, proto: 'udp' });
      p.dnsId = id;
      p.dnsResponse = !query;
      t.process(p);
    };
    dns(0, true, 100); // A
    dns(0.0001, true, 101); // AAAA, sent while A is awaited: not timed
    dns(0.004, false, 101); // AAAA answered first: not the awaited query
    dns(0.006, false, 100); // A answered: 6 ms
    dns(6, true, 102); // next period: a lost query...
    dns(12, true, 103); // ...given up after 5 s: this one is timed
    dns(12.02, false, 103);
    const rs = flush();
    expect(rs.map((r) => r.dns_rtt_us)).toEqual([0.006 * S, null, 0.02 * S]);
  });
});

describe('open flows snapshot', () => {
  it('the current period of each open flow, marked open, with the seq its next record takes; nothing changes', () => {
    const { t, feed, sink } = table({ timeouts: { activeTimeoutS: 5 } });
    feed(...tcp([[true, 'S'], [false, 'SA'], [true, 'A'], [true, 'PA', 100]]));
    feed({ t: 0.5, src: C, dst: '8.8.8.8', proto: 'icmp', icmpType: 8, icmpId: 42, bytes: 84 });
    const all = () => true;
    const first = t.snapshotOpen(10, all);
    expect(first.omitted).toBe(0);
    expect(first.records.map((r) => [r.protocol, r.record_kind, r.end_reason, r.seq, r.packets_tx, r.packets_rx, r.icmp_id]).sort()).toEqual([
      ['icmp', 'open', 'open', 0, 1, 0, 42],
      ['tcp', 'open', 'open', 0, 3, 1, null],
    ]);
    const tcpOpen = first.records.find((r) => r.protocol === 'tcp')!;
    expect(tcpOpen.tcp_synack_us).toBe(0.01 * S); // the handshake shows while open...
    expect(t.snapshotOpen(10, all).records).toEqual(first.records); // ...and reading changed nothing
    expect(sink.records).toHaveLength(0);
    feed({ t: 6, src: C, sp: 40000, dst: SRV, dp: 80, flags: 'PA', payload: 10, bytes: 50 }); // interim for [0, 0.03]
    const [interim] = sink.records;
    expect(interim).toMatchObject({ seq: 0, record_kind: 'interim', packets_tx: 3, packets_rx: 1, tcp_synack_us: 0.01 * S });
    const second = t.snapshotOpen(10, (startUs) => startUs >= T0 + 5 * S);
    expect(second.records.map((r) => [r.seq, r.packets_tx, r.bytes_tx, r.tcp_synack_us])).toEqual([[1, 1, 50, null]]);
    expect(second.earliestNextStartUs).toBe(T0 + 0.5 * S); // the ICMP flow's next record starts there
  });

  it('is bounded: beyond the limit flows are counted, not returned', () => {
    const { t, feed } = table();
    for (let i = 0; i < 10; i++) feed({ t: i * 0.1, src: C, sp: 1000 + i, dst: SRV, dp: 53, proto: 'udp' });
    const snap = t.snapshotOpen(4, () => true);
    expect([snap.records.length, snap.omitted]).toEqual([4, 6]);
    // the most recently active first
    expect(snap.records.map((r) => r.src_port)).toEqual([1009, 1008, 1007, 1006]);
  });
});

describe('hash table under churn', () => {
  it('matches a reference model through many inserts, expiries and evictions', () => {
    const { t, sink, feed } = table({ maxFlows: 64, timeouts: { udpS: 5, activeTimeoutS: 1e6 } });
    let seed = 12345;
    const rnd = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
    const sent = new Map<string, number>();
    let total = 0;
    for (let i = 0; i < 20000; i++) {
      const a = rnd(200);
      const b = rnd(3);
      const d: P = { t: i * 0.001, src: `10.1.${a >> 8}.${a & 255}`, sp: 1000 + b, dst: '10.2.0.1', dp: 53, proto: 'udp', bytes: 1 + rnd(100) };
      const k = `${d.src}:${d.sp}`;
      sent.set(k, (sent.get(k) ?? 0) + (d.bytes ?? 0));
      total += d.bytes ?? 0;
      feed(d);
    }
    t.flushAll();
    const got = new Map<string, number>();
    for (const r of sink.records) got.set(`${r.src_ip}:${r.src_port}`, (got.get(`${r.src_ip}:${r.src_port}`) ?? 0) + r.bytes_tx);
    expect(got).toEqual(sent);
    expect(sink.records.reduce((a, r) => a + r.bytes_tx, 0)).toBe(total);
    expect(t.stats.evictions).toBeGreaterThan(0);
  });
});

describe('LocalAddresses', () => {
  it('host addresses plus configured prefixes; refreshHost keeps the configured ones', () => {
    const local = LocalAddresses.fromHost(['192.0.2.0/24']);
    const has = (ip: string) => {
      const p = parseIp(ip)!;
      return local.isLocal(p.bytes, p.version);
    };
    expect(has('127.0.0.1')).toBe(true); // loopback is always an interface address
    expect(has('192.0.2.77')).toBe(true);
    expect(has('198.51.100.1')).toBe(false);
    local.refreshHost();
    expect(has('192.0.2.77')).toBe(true);
    expect(local.list()).toContain('192.0.2.0/24');
    expect(() => LocalAddresses.fromHost(['10.0.0.0/40'])).toThrow(/local_addresses: "10.0.0.0\/40"/);
  });
});

describe('routing peer, capture points and the legs of forwarded connections', () => {
  const USER = '10.0.0.2';
  const GW_PUBLIC = '198.51.100.1';
  const WEB = '203.0.113.5';
  const gwPeer = { name: 'inetgw', publicKey: 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=' };
  const userPeer = { name: '', publicKey: 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=' };
  const gwLocal = LocalAddresses.of([GW_PUBLIC, '10.0.0.1']);

  /** A gateway's table: point 0 = wg0 (peers by remote address), point 1 = eth0 (no peers). */
  function gateway(nat?: NatTable) {
    const sink = new MemorySink();
    const annotator: FlowAnnotator = {
      direction: (src, dst, v) => gwLocal.direction(src, dst, v),
      endpoint: () => ({ name: '', type: 'unknown' }),
      domain: () => '',
      peer: (point, src, dst, v, direction) => {
        if (point !== 0) return null;
        const routes = new WireGuardRoutes([{ publicKey: userPeer.publicKey, allowedIps: [`${USER}/32`] }], () => '');
        return routes.peerOf(src, dst, v, direction);
      },
      ...(nat ? { translation: (proto: number, s: string, sp: number, d: string, dp: number) => nat.lookup(proto, s, sp, d, dp) } : {}),
    };
    const t = new FlowTable({ node: 'gw', interfaceName: 'wg0', annotator, bootId: 'g' }, sink);
    const eth0 = t.addCapturePoint('eth0');
    const on = (point: number, ...ps: P[]) => {
      t.selectCapturePoint(point);
      ps.forEach((d) => t.process(packet(d)));
    };
    return { t, sink, eth0, on, flush: () => { t.flushAll(); return sink.records; } };
  }

  /** A short HTTPS exchange between `client`:port and WEB:443 starting at t0. */
  const https = (client: string, port: number, t0: number): P[] => [
    { t: t0, src: client, sp: port, dst: WEB, dp: 443, flags: 'S' },
    { t: t0 + 0.01, src: WEB, sp: 443, dst: client, dp: port, flags: 'SA' },
    { t: t0 + 0.02, src: client, sp: port, dst: WEB, dp: 443, flags: 'PA', payload: 100, bytes: 140 },
    { t: t0 + 0.03, src: WEB, sp: 443, dst: client, dp: port, flags: 'PA', payload: 900, bytes: 940 },
  ];

  it('names the routing peer by direction: the destination\'s outbound, the source\'s inbound; routes do not name', () => {
    const routes = new WireGuardRoutes([
      { publicKey: gwPeer.publicKey, allowedIps: ['10.0.0.1/32', '192.168.50.0/24', '0.0.0.0/0'] },
      { publicKey: userPeer.publicKey, allowedIps: ['10.0.0.3/32'] },
    ], (key) => (key === gwPeer.publicKey ? 'inetgw' : ''));
    const local = LocalAddresses.of([USER]);
    const { feed, flush } = table({
      annotator: { ...noNames, direction: (s, d, v) => local.direction(s, d, v), peer: (_p, s, d, v, dir) => routes.peerOf(s, d, v, dir) },
    });
    feed(
      { t: 0, src: USER, sp: 40000, dst: WEB, dp: 443, flags: 'S' }, // exit route
      { t: 0, src: USER, sp: 40001, dst: '192.168.50.10', dp: 80, flags: 'S' }, // LAN route
      { t: 0, src: USER, sp: 40002, dst: '10.0.0.1', dp: 22, flags: 'S' }, // the gateway itself
      { t: 0, src: '10.0.0.3', sp: 40003, dst: USER, dp: 22, flags: 'S' }, // inbound from an unnamed peer (not the exit)
      { t: 0, src: USER, sp: 40004, dst: '10.0.0.1', dp: 53, proto: 'udp' },
    );
    const peers = Object.fromEntries(flush().map((r) => [r.dst_port === 22 && r.src_ip === USER ? 'gw' : `${r.dst_ip}:${r.dst_port}`, [r.peer_name, r.peer_key]]));
    expect(peers).toEqual({
      [`${WEB}:443`]: ['inetgw', gwPeer.publicKey],
      '192.168.50.10:80': ['inetgw', gwPeer.publicKey],
      gw: ['inetgw', gwPeer.publicKey],
      [`${USER}:22`]: ['', userPeer.publicKey],
      '10.0.0.1:53': ['inetgw', gwPeer.publicKey],
    });
  });

  it('keeps an interface\'s flows apart; the same tuple on two interfaces is one ingress and one egress leg', () => {
    const { on, eth0, flush } = gateway();
    // forwarded without NAT: the packet is seen on wg0 first, then on eth0
    for (const p of https(USER, 40000, 0)) {
      on(0, p);
      on(eth0, { ...p, t: p.t + 0.00002 });
    }
    const records = flush();
    expect(records.map((r) => [r.interface, r.transit, r.packets_tx, r.packets_rx, r.bytes_tx, r.bytes_rx, r.direction])).toEqual([
      ['wg0', 'ingress', 2, 2, 180, 980, 'forwarded'],
      ['eth0', 'egress', 2, 2, 180, 980, 'forwarded'],
    ]);
    expect(records[0].community_id).toBe(records[1].community_id);
    expect(records[0].flow_id).not.toBe(records[1].flow_id);
    expect([records[0].peer_name, records[0].peer_key, records[1].peer_key]).toEqual(['', userPeer.publicKey, '']);
    expect(records.every((r) => r.link_id === '' && r.nat_src_ip === '')).toBe(true);
  });

  it('the leg whose first packet came first is ingress, whichever capture delivered it first', () => {
    const { on, eth0, flush } = gateway();
    const ps = https(USER, 40000, 0);
    on(eth0, ...ps.map((p) => ({ ...p, t: p.t + 0.00002 }))); // eth0's ring was read first
    on(0, ...ps);
    expect(flush().map((r) => [r.interface, r.transit])).toEqual([['eth0', 'egress'], ['wg0', 'ingress']]);
  });

  it('behind a masquerade: pre- and post-NAT legs linked from conntrack, each showing the other\'s tuple and Community ID', () => {
    const nat = new NatTable({ maxConnections: 100, graceMs: 60_000 });
    nat.add(parseConntrackLine(`[NEW] tcp 6 120 SYN_SENT src=${USER} dst=${WEB} sport=40000 dport=443 [UNREPLIED] src=${WEB} dst=${GW_PUBLIC} sport=443 dport=61000`)!.connection);
    const { on, eth0, flush } = gateway(nat);
    for (const p of https(USER, 40000, 0)) {
      on(0, p);
      const fromUser = p.src === USER;
      on(eth0, { ...p, t: p.t + 0.00002, ...(fromUser ? { src: GW_PUBLIC, sp: 61000 } : { dst: GW_PUBLIC, dp: 61000 }) });
    }
    // an unrelated connection of the gateway itself on the uplink stays unlinked and counted
    on(eth0, { t: 1, src: GW_PUBLIC, sp: 50000, dst: WEB, dp: 80, flags: 'S' });
    const records = flush();
    const [pre, post, own] = [records.find((r) => r.src_ip === USER)!, records.find((r) => r.src_port === 61000)!, records.find((r) => r.src_port === 50000)!];
    expect(records).toHaveLength(3);
    expect(pre).toMatchObject({
      interface: 'wg0', transit: 'ingress', direction: 'forwarded', src_ip: USER, src_port: 40000, peer_key: userPeer.publicKey,
      nat_src_ip: GW_PUBLIC, nat_src_port: 61000, nat_dst_ip: WEB, nat_dst_port: 443, link_id: post.community_id,
    });
    expect(post).toMatchObject({
      interface: 'eth0', transit: 'egress', direction: 'outbound', src_ip: GW_PUBLIC, src_port: 61000, peer_key: '',
      nat_src_ip: USER, nat_src_port: 40000, nat_dst_ip: WEB, nat_dst_port: 443, link_id: pre.community_id,
    });
    expect([pre.bytes_tx, pre.bytes_rx]).toEqual([post.bytes_tx, post.bytes_rx]);
    expect(own).toMatchObject({ interface: 'eth0', transit: null, link_id: '', nat_src_ip: '', nat_src_port: 0 });
  });

  it('open flows (include_open) cover every capture point, each leg with the transit and NAT link its record will carry', () => {
    const nat = new NatTable({ maxConnections: 100, graceMs: 60_000 });
    nat.add(parseConntrackLine(`[NEW] tcp 6 120 SYN_SENT src=${USER} dst=${WEB} sport=40000 dport=443 [UNREPLIED] src=${WEB} dst=${GW_PUBLIC} sport=443 dport=61000`)!.connection);
    const { t, on, eth0, sink, flush } = gateway(nat);
    for (const p of https(USER, 40000, 0)) {
      on(0, p);
      const fromUser = p.src === USER;
      on(eth0, { ...p, t: p.t + 0.00002, ...(fromUser ? { src: GW_PUBLIC, sp: 61000 } : { dst: GW_PUBLIC, dp: 61000 }) });
    }
    on(eth0, { t: 1, src: GW_PUBLIC, sp: 50000, dst: WEB, dp: 80, flags: 'S' });
    const legs = (records: FlowRecord[]) => records.map((r) => [r.interface, r.src_port, r.transit, r.link_id, r.packets_tx + r.packets_rx]).sort();
    const open = t.snapshotOpen(10, () => true);
    expect(open.records.every((r) => r.record_kind === 'open')).toBe(true);
    expect(legs(open.records)).toHaveLength(3);
    expect(t.snapshotOpen(10, () => true).records).toEqual(open.records); // reading paired nothing
    expect(sink.records).toHaveLength(0);
    const stored = flush();
    expect(legs(open.records)).toEqual(legs(stored));
    expect(legs(stored).map(([iface, port, transit]) => [iface, port, transit])).toEqual([
      ['eth0', 50000, null], ['eth0', 61000, 'egress'], ['wg0', 40000, 'ingress'],
    ]);
  });

  it('ICMP echo behind a masquerade: linked by identifier, no ports in the NAT fields', () => {
    const nat = new NatTable({ maxConnections: 100, graceMs: 60_000 });
    nat.add(parseConntrackLine(`icmp 1 28 src=${USER} dst=${WEB} type=8 code=0 id=7 src=${WEB} dst=${GW_PUBLIC} type=0 code=0 id=9`)!.connection);
    const { on, eth0, flush } = gateway(nat);
    on(0, { t: 0, src: USER, dst: WEB, proto: 'icmp', icmpType: 8, icmpId: 7, bytes: 84 }, { t: 0.01, src: WEB, dst: USER, proto: 'icmp', icmpType: 0, icmpId: 7, bytes: 84 });
    on(eth0, { t: 0, src: GW_PUBLIC, dst: WEB, proto: 'icmp', icmpType: 8, icmpId: 9, bytes: 84 }, { t: 0.01, src: WEB, dst: GW_PUBLIC, proto: 'icmp', icmpType: 0, icmpId: 9, bytes: 84 });
    const [pre, post] = flush();
    expect([pre.transit, post.transit]).toEqual(['ingress', 'egress']);
    expect(pre).toMatchObject({ nat_src_ip: GW_PUBLIC, nat_src_port: 0, nat_dst_ip: WEB, link_id: post.community_id });
    expect(post).toMatchObject({ nat_src_ip: USER, nat_dst_port: 0, link_id: pre.community_id });
  });

  it('with one capture point a translated connection is linked but not a transit leg (nothing to count twice)', () => {
    const nat = new NatTable({ maxConnections: 100, graceMs: 60_000 });
    nat.add(parseConntrackLine(`[NEW] udp 17 30 src=${USER} dst=${WEB} sport=5000 dport=53 src=${WEB} dst=${GW_PUBLIC} sport=53 dport=5000`)!.connection);
    const { feed, flush } = table({ annotator: { ...noNames, translation: (p, s, sp, d, dp) => nat.lookup(p, s, sp, d, dp) } });
    feed({ t: 0, src: USER, sp: 5000, dst: WEB, dp: 53, proto: 'udp' });
    expect(flush()[0]).toMatchObject({ transit: null, nat_src_ip: GW_PUBLIC, nat_src_port: 5000, link_id: expect.stringMatching(/^1:/) });
  });
});
