/**
 * The synthetic capture generator: deterministic per seed; its ground truth matches the
 * packets it wrote (read back through libpcap and the decoder, grouped per flow here) for
 * every link type; it covers the scenarios the flow table must get right; tshark's TCP and
 * UDP conversations agree with it; a packet target is met exactly; the gen-pcap command.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { readCaptureFile } from '../src/capture';
import { DecodedPacket, PacketDecoder } from '../src/decode/decoder';
import { readTruth, registerGenPcapCommand, type CaptureTruth, type SynthLinkType, type TruthFlow } from '../src/synth';
import { formatIp } from '../src/synth/addresses';
import { makeCapture, type MadeCapture } from './support/synth';

const IDLE_LIMIT_US = 10_000_000;

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** What the packets read back show for one flow: the truth's counters, plus two facts for the checks. */
type Observed = Pick<
  TruthFlow,
  'packets_tx' | 'packets_rx' | 'bytes_tx' | 'bytes_rx' | 'frame_bytes_tx' | 'frame_bytes_rx' | 'tcp_flags_src' | 'tcp_flags_dst' | 'first_us' | 'last_us'
> & { maxGapUs: number; firstFromSrc: boolean };

const isEcho = (protocol: number, type: number) => (protocol === 1 ? type === 8 || type === 0 : type === 128 || type === 129);
const echoRequest = (type: number) => type === 8 || type === 128;
const pair = (x: string, y: string) => (x < y ? `${x}|${y}` : `${y}|${x}`);

function truthKey(f: TruthFlow): string {
  if (f.protocol === 'tcp' || f.protocol === 'udp') return `${f.protocol_number}|${pair(`${f.src_ip}/${f.src_port}`, `${f.dst_ip}/${f.dst_port}`)}`;
  if (f.icmp_id !== null) return `${f.protocol_number}|echo|${pair(f.src_ip, f.dst_ip)}|${f.icmp_id}`;
  return `${f.protocol_number}|${f.src_ip}|${f.dst_ip}|${f.icmp_type}|${f.icmp_code}`;
}

/** Reads the pcap and aggregates decoded packets per flow key, independently of the generator. */
async function observe(cap: MadeCapture): Promise<{ flows: Map<string, Observed>; decoder: PacketDecoder }> {
  const srcOf = new Map(cap.truth.flows.map((f) => [truthKey(f), f]));
  const flows = new Map<string, Observed>();
  const p = new DecodedPacket();
  let decoder: PacketDecoder | undefined;
  await readCaptureFile(cap.pcapPath, { onOpen: (lt) => (decoder = new PacketDecoder(lt)) }, (buf, offset, capLen, wireLen, time) => {
    if (decoder!.decode(buf, offset, capLen, wireLen, time, p) !== 0) return;
    const src = formatIp(p.srcAddr.subarray(0, p.ipVersion === 4 ? 4 : 16));
    const dst = formatIp(p.dstAddr.subarray(0, p.ipVersion === 4 ? 4 : 16));
    let key: string;
    let fromSrc: boolean;
    if (p.protocol === 6 || p.protocol === 17) {
      key = `${p.protocol}|${pair(`${src}/${p.srcPort}`, `${dst}/${p.dstPort}`)}`;
      const truth = srcOf.get(key);
      fromSrc = truth !== undefined && truth.src_ip === src && truth.src_port === p.srcPort;
    } else if (isEcho(p.protocol, p.icmpType)) {
      key = `${p.protocol}|echo|${pair(src, dst)}|${p.icmpId}`;
      fromSrc = echoRequest(p.icmpType);
    } else {
      key = `${p.protocol}|${src}|${dst}|${p.icmpType}|${p.icmpCode}`;
      fromSrc = true;
    }
    let o = flows.get(key);
    if (!o) {
      o = { packets_tx: 0, packets_rx: 0, bytes_tx: 0, bytes_rx: 0, frame_bytes_tx: 0, frame_bytes_rx: 0, tcp_flags_src: 0, tcp_flags_dst: 0, first_us: p.tsUs, last_us: p.tsUs, maxGapUs: 0, firstFromSrc: fromSrc };
      flows.set(key, o);
    }
    o.maxGapUs = Math.max(o.maxGapUs, p.tsUs - o.last_us);
    o.last_us = p.tsUs;
    if (fromSrc) {
      o.packets_tx++;
      o.bytes_tx += p.ipBytes;
      o.frame_bytes_tx += wireLen;
      o.tcp_flags_src |= p.tcpFlags;
    } else {
      o.packets_rx++;
      o.bytes_rx += p.ipBytes;
      o.frame_bytes_rx += wireLen;
      o.tcp_flags_dst |= p.tcpFlags;
    }
  });
  return { flows, decoder: decoder! };
}

describe('determinism', () => {
  test('same seed, same bytes; another seed, another capture', async () => {
    const a = await makeCapture({ seed: 42, flows: 60 });
    const b = await makeCapture({ seed: 42, flows: 60 });
    const c = await makeCapture({ seed: 43, flows: 60 });
    try {
      expect(sha256(a.pcapPath)).toBe(sha256(b.pcapPath));
      expect(fs.readFileSync(a.truthPath, 'utf8')).toBe(fs.readFileSync(b.truthPath, 'utf8'));
      expect(sha256(a.pcapPath)).not.toBe(sha256(c.pcapPath));
      expect(a.summary.first_us).toBeGreaterThanOrEqual(Date.UTC(2026, 0, 1) * 1000);
    } finally {
      [a, b, c].forEach((x) => x.cleanup());
    }
  });

  test('one seed plans the same flows for every link type (only framing differs)', async () => {
    const eth = await makeCapture({ seed: 42, flows: 60, linkType: 'ethernet' });
    const raw = await makeCapture({ seed: 42, flows: 60, linkType: 'raw' });
    try {
      const strip = (f: TruthFlow) => ({ ...f, frame_bytes_tx: 0, frame_bytes_rx: 0, vlan: [] });
      expect(raw.truth.flows.map(strip)).toEqual(eth.truth.flows.map(strip));
      expect(eth.truth.flows.some((f) => f.vlan.length > 0)).toBe(true);
      expect(raw.summary.ip_bytes).toBe(eth.summary.ip_bytes);
    } finally {
      eth.cleanup();
      raw.cleanup();
    }
  });
});

describe.each(['ethernet', 'raw', 'sll', 'sll2', 'null'] as SynthLinkType[])('%s: ground truth matches the packets written', (linkType) => {
  test('per flow: packets, IP and frame bytes, flags per side, first/last timestamps; no gap of 10 s', async () => {
    const cap = await makeCapture({ seed: 21, flows: 150, linkType });
    try {
      const { flows, decoder } = await observe(cap);
      expect(decoder.stats.count('ok')).toBe(cap.summary.packets);
      expect(flows.size).toBe(cap.truth.flows.length);
      for (const f of cap.truth.flows) {
        const o = flows.get(truthKey(f));
        expect({ id: f.id, observed: o !== undefined }).toEqual({ id: f.id, observed: true });
        const { maxGapUs, firstFromSrc, ...counters } = o!;
        expect({ id: f.id, ...counters }).toEqual({
          id: f.id,
          packets_tx: f.packets_tx,
          packets_rx: f.packets_rx,
          bytes_tx: f.bytes_tx,
          bytes_rx: f.bytes_rx,
          frame_bytes_tx: f.frame_bytes_tx,
          frame_bytes_rx: f.frame_bytes_rx,
          tcp_flags_src: f.tcp_flags_src,
          tcp_flags_dst: f.tcp_flags_dst,
          first_us: f.first_us,
          last_us: f.last_us,
        });
        expect(maxGapUs).toBeLessThan(IDLE_LIMIT_US);
        // mid-stream TCP: the responder's packet comes first, yet the truth names the client as src
        if (f.conn_state === 'OTH') expect(firstFromSrc).toBe(false);
      }
      const sum = (k: 'packets_tx' | 'packets_rx' | 'bytes_tx' | 'bytes_rx' | 'frame_bytes_tx' | 'frame_bytes_rx') =>
        cap.truth.flows.reduce((n, f) => n + f[k], 0);
      expect(sum('packets_tx') + sum('packets_rx')).toBe(cap.summary.packets);
      expect(sum('bytes_tx') + sum('bytes_rx')).toBe(cap.summary.ip_bytes);
      expect(sum('frame_bytes_tx') + sum('frame_bytes_rx')).toBe(cap.summary.frame_bytes);
    } finally {
      cap.cleanup();
    }
  });
});

describe('scenario coverage', () => {
  let cap: MadeCapture;
  let truth: CaptureTruth;
  beforeAll(async () => {
    cap = await makeCapture({ seed: 9, flows: 400 });
    truth = cap.truth;
  });
  afterAll(() => cap.cleanup());

  test('every conn_state, protocol and special case appears', () => {
    const flows = truth.flows;
    const states = new Set(flows.map((f) => f.conn_state));
    for (const s of ['SF', 'S0', 'REJ', 'RSTO', 'RSTR', 'OTH']) expect(states).toContain(s);
    expect(new Set(flows.map((f) => f.protocol))).toEqual(new Set(['tcp', 'udp', 'icmp', 'icmpv6']));
    expect(flows.some((f) => f.fragments > 1)).toBe(true);
    expect(flows.some((f) => f.vlan.length === 1)).toBe(true);
    expect(flows.some((f) => f.vlan.length === 2)).toBe(true);
    expect(flows.some((f) => f.ipv6_ext === 'hop_by_hop' && f.protocol === 'tcp')).toBe(true);
    expect(flows.some((f) => f.ipv6_ext === 'destination_options')).toBe(true);
    expect(flows.some((f) => f.icmp_type === 3 && f.icmp_code === 3)).toBe(true);
    expect(flows.some((f) => f.protocol === 'icmpv6' && f.icmp_type === 128 && f.packets_rx > 0)).toBe(true);
    expect(flows.some((f) => f.src_ip.startsWith('100.64.') || f.dst_ip.startsWith('100.64.'))).toBe(true);
    expect(flows.some((f) => f.dst_ip.startsWith('2001:db8:'))).toBe(true);
    expect(flows.some((f) => f.dst_ip.startsWith('fd7a:115c:a1e0:'))).toBe(true);
    expect(new Set(flows.map((f) => f.direction))).toEqual(new Set(['outbound', 'inbound', 'forwarded']));
    for (const f of flows.filter((x) => x.direction === 'outbound')) expect(truth.capture_host).toContain(f.src_ip);
  });

  test('state shapes: S0 is SYN only, REJ is SYN answered by RST, SF closes with FIN both ways', () => {
    for (const f of truth.flows.filter((x) => x.protocol === 'tcp')) {
      const shape = { state: f.conn_state, src: f.tcp_flags_src, dst: f.tcp_flags_dst, rx: f.packets_rx };
      if (f.conn_state === 'S0') expect(shape).toEqual({ ...shape, src: 0x02, dst: 0, rx: 0 });
      if (f.conn_state === 'REJ') expect(shape).toEqual({ ...shape, src: 0x02, dst: 0x14 });
      if (f.conn_state === 'SF') expect([f.tcp_flags_src & 0x03, f.tcp_flags_dst & 0x03]).toEqual([0x03, 0x03]);
      if (f.conn_state === 'RSTO') expect([f.tcp_flags_src & 0x06, f.tcp_flags_dst & 0x04]).toEqual([0x06, 0]);
      if (f.conn_state === 'RSTR') expect([f.tcp_flags_dst & 0x06, f.tcp_flags_src & 0x04]).toEqual([0x06, 0]);
      if (f.conn_state === 'OTH') expect((f.tcp_flags_src | f.tcp_flags_dst) & 0x07).toBe(0);
    }
  });

  test('DNS answers (A and AAAA) name the addresses later connected to', () => {
    expect(truth.dns.some((a) => a.address.includes('.'))).toBe(true);
    expect(truth.dns.some((a) => a.address.includes(':'))).toBe(true);
    const named = truth.flows.filter((f) => f.dst_domain !== '');
    expect(named.length).toBeGreaterThan(5);
    for (const f of named) {
      const answer = truth.dns.find((a) => a.address === f.dst_ip && a.domain === f.dst_domain)!;
      expect(answer.ts_us).toBeLessThanOrEqual(f.first_us);
      expect(f.first_us).toBeLessThanOrEqual(answer.ts_us + answer.ttl * 1e6);
    }
  });

  test('attribution by time: shared addresses keep the latest valid name; no name from a later answer', () => {
    const byScenario = (s: string) => truth.flows.filter((f) => f.scenario === s);
    const namesOf = (address: string) => new Set(truth.dns.filter((a) => a.address === address).map((a) => a.domain));
    const [first, second, afterExpiry] = ['tcp_sf_shared_first', 'tcp_sf_shared_second', 'tcp_sf_shared_after_expiry'].map(byScenario);
    expect(first.length).toBeGreaterThan(0);
    expect([second.length, afterExpiry.length]).toEqual([first.length, first.length]);
    for (const f of first) {
      const to = (flows: TruthFlow[]) => flows.find((x) => x.dst_ip === f.dst_ip)!;
      expect(namesOf(f.dst_ip).size).toBe(2);
      expect([f.dst_domain, to(second).dst_domain, to(afterExpiry).dst_domain]).toEqual([
        expect.stringMatching(/\./), expect.not.stringMatching(`^${f.dst_domain}$`), f.dst_domain,
      ]);
    }
    const early = byScenario('tcp_sf_before_answer');
    expect(early.length).toBeGreaterThan(0);
    for (const f of early) {
      expect(f.dst_domain).toBe('');
      expect(truth.dns.some((a) => a.address === f.dst_ip && a.ts_us > f.first_us)).toBe(true);
    }
    expect(byScenario('tcp_sf_after_late_answer').every((f) => f.dst_domain !== '')).toBe(true);
  });

  test('latency: handshake legs for complete handshakes only; DNS response time of the first answered query', () => {
    for (const f of truth.flows.filter((x) => x.protocol === 'tcp')) {
      const complete = ['SF', 'RSTO', 'RSTR'].includes(f.conn_state);
      expect({ id: f.id, state: f.conn_state, measured: f.tcp_synack_us !== null && f.tcp_ack_us !== null }).toEqual({ id: f.id, state: f.conn_state, measured: complete });
      if (complete) expect(f.tcp_synack_us! + f.tcp_ack_us!).toBeLessThanOrEqual(f.last_us - f.first_us);
    }
    const dns = truth.flows.filter((f) => f.scenario === 'dns');
    expect(dns.length).toBeGreaterThan(0);
    for (const f of dns) expect(f.dns_rtt_us).toBeGreaterThan(0);
    expect(truth.flows.filter((f) => f.scenario !== 'dns').every((f) => f.dns_rtt_us === null)).toBe(true);
  });

  test('flows overlap in time', () => {
    const sorted = [...truth.flows].sort((a, b) => a.first_us - b.first_us);
    const overlapping = sorted.filter((f, i) => i > 0 && f.first_us < sorted[i - 1].last_us).length;
    expect(overlapping).toBeGreaterThan(truth.flows.length / 10);
  });
});

interface Conversation {
  a: string;
  b: string;
  framesToA: number;
  bytesToA: [number, string];
  framesFromA: number;
  bytesFromA: [number, string];
}

function tsharkConversations(file: string): { tcp: Conversation[]; udp: Conversation[] } {
  const text = execFileSync('tshark', ['-r', file, '-q', '-z', 'conv,tcp', '-z', 'conv,udp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  const result: { tcp: Conversation[]; udp: Conversation[] } = { tcp: [], udp: [] };
  let section: Conversation[] | undefined;
  const row = /^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+([\d,]+)\s+(bytes|kB|MB|GB)\s+(\d+)\s+([\d,]+)\s+(bytes|kB|MB|GB)\s/;
  for (const line of text.split('\n')) {
    if (line.startsWith('TCP Conversations')) section = result.tcp;
    else if (line.startsWith('UDP Conversations')) section = result.udp;
    const m = row.exec(line);
    if (m && section) {
      const num = (s: string) => Number(s.replace(/,/g, ''));
      section.push({ a: m[1], b: m[2], framesToA: num(m[3]), bytesToA: [num(m[4]), m[5]], framesFromA: num(m[6]), bytesFromA: [num(m[7]), m[8]] });
    }
  }
  return result;
}

/** tshark prints exact bytes below 10 kB and rounded SI units above. */
function expectBytes(shown: [number, string], exact: number, what: string): void {
  const scale = { bytes: 1, kB: 1e3, MB: 1e6, GB: 1e9 }[shown[1]]!;
  if (scale === 1) expect({ what, bytes: shown[0] }).toEqual({ what, bytes: exact });
  else expect({ what, off: Math.abs(shown[0] * scale - exact) <= scale }).toEqual({ what, off: true });
}

test('tshark conv,tcp / conv,udp: same conversations, frames and bytes each way as the ground truth', async () => {
  const cap = await makeCapture({ seed: 33, flows: 250 });
  try {
    const conversations = tsharkConversations(cap.pcapPath);
    let compared = 0;
    for (const protocol of ['tcp', 'udp'] as const) {
      const flows = cap.truth.flows.filter((f) => f.protocol === protocol);
      const byEnds = new Map(flows.map((f) => [pair(`${f.src_ip}:${f.src_port}`, `${f.dst_ip}:${f.dst_port}`), f]));
      expect(conversations[protocol].length).toBe(flows.length);
      for (const c of conversations[protocol]) {
        const f = byEnds.get(pair(c.a, c.b));
        expect({ conversation: `${c.a} <-> ${c.b}`, known: f !== undefined }).toEqual({ conversation: `${c.a} <-> ${c.b}`, known: true });
        // reassembled fragments and UDP quoted in ICMP errors are counted differently by tshark
        if (f!.fragments > 0 || f!.scenario === 'udp_unreachable') continue;
        const aIsSrc = c.a === `${f!.src_ip}:${f!.src_port}`;
        const label = `${protocol} flow ${f!.id}`;
        expect({ label, from: c.framesFromA, to: c.framesToA }).toEqual({
          label,
          from: aIsSrc ? f!.packets_tx : f!.packets_rx,
          to: aIsSrc ? f!.packets_rx : f!.packets_tx,
        });
        expectBytes(c.bytesFromA, aIsSrc ? f!.frame_bytes_tx : f!.frame_bytes_rx, label);
        expectBytes(c.bytesToA, aIsSrc ? f!.frame_bytes_rx : f!.frame_bytes_tx, label);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(150);
  } finally {
    cap.cleanup();
  }
});

test('a packet target is met exactly', async () => {
  const cap = await makeCapture({ seed: 5, flows: 100, packets: 25_000, linkType: 'raw' });
  try {
    expect(cap.summary.packets).toBe(25_000);
    expect(cap.truth.flows.reduce((n, f) => n + f.packets_tx + f.packets_rx, 0)).toBe(25_000);
    const { decoder } = await observe(cap);
    expect(decoder.stats.count('ok')).toBe(25_000);
  } finally {
    cap.cleanup();
  }
});

describe('gen-pcap command', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-genpcap-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function program(): Command {
    const p = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerGenPcapCommand(p);
    return p;
  }

  test('writes the pcap and truth and prints a JSON summary line', async () => {
    const out = path.join(dir, 'cli.pcap');
    const truthFile = path.join(dir, 'cli.json');
    const lines: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await program().parseAsync(['gen-pcap', '--seed', '7', '--flows', '40', '--out', out, '--truth', truthFile, '--link-type', 'sll2'], { from: 'user' });
    } finally {
      spy.mockRestore();
    }
    const printed = JSON.parse(lines.join(''));
    const truth = readTruth(truthFile);
    expect(printed).toMatchObject({ pcap: out, truth: truthFile, packets: truth.summary.packets, flows: truth.flows.length });
    expect(truth).toMatchObject({ seed: 7, link_type: 'sll2', link_type_number: 276 });
    expect(fs.statSync(out).size).toBe(truth.summary.file_bytes);
  });

  test('rejects an unknown link type and a bad seed, naming the option', async () => {
    await expect(program().parseAsync(['gen-pcap', '--out', path.join(dir, 'x.pcap'), '--link-type', 'token-ring'], { from: 'user' })).rejects.toThrow(
      /--link-type.*expected one of ethernet, raw, sll, sll2, null/,
    );
    await expect(program().parseAsync(['gen-pcap', '--out', path.join(dir, 'x.pcap'), '--seed', 'abc'], { from: 'user' })).rejects.toThrow(
      /--seed must be an integer >= 0/,
    );
  });
});
