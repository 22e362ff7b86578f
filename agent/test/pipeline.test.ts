/**
 * The whole pipeline on real files (the agent's file reader, the real decoder, DNS observer and
 * flow table) and on a real live capture on loopback: exact records against what was sent.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { Pipeline } from '../src/pipeline';
import { Inventory } from '../src/inventory';
import { LocalAddresses } from '../src/flow/direction';
import { DEFAULT_TIMEOUTS } from '../src/flowtable/flowTable';
import type { FlowRecord, FlowSink } from '../src/model/flow';
import { MemorySink } from './support/memory-sink';
import { dnsResponse, ethernet, ipPacket, scenario, tcpSegment, TCP, udpDatagram, writePcap, T0_US } from './pipeline-pcap';
import { Value } from '@sinclair/typebox/value';
import { FlowRecordSchema } from '../src/model/flow';
import { CaptureFileError } from '../src/capture';
import { UnsupportedLinkTypeError } from '../src/decode/decoder';
import { privileged } from './support/privileged';
import { makeCapture } from './support/synth';

const inventory = Inventory.parse(`
addresses:
  10.0.0.1: { name: laptop, type: user }
  10.0.0.53: { name: resolver, type: node }
`);

function pipeline(sink: FlowSink, local: string[] = ['10.0.0.0/24', 'fd00::1']) {
  return new Pipeline({
    node: 'test-node', maxFlows: 1024, timeouts: DEFAULT_TIMEOUTS, dns: { enabled: true }, inventory,
    localAddresses: LocalAddresses.of(local), logger: pino({ level: 'silent' }), progress: false, bootId: 'boot',
  }, sink);
}

const dir = mkdtempSync(join(tmpdir(), 'fm-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('import', () => {
  it('turns a known capture into exactly the expected flows, with names, direction and DNS domain', async () => {
    const { frames, expected } = scenario();
    const file = join(dir, 'scenario.pcap');
    writePcap(file, frames);
    const sink = new MemorySink();
    const p = pipeline(sink);
    await p.importFile(file);
    await p.finish();
    const byKey = (r: { protocol: string; src_port: number }) => `${r.protocol}:${r.src_port}`;
    const records = [...sink.records].sort((a, b) => byKey(a).localeCompare(byKey(b)));
    expect(records.map((r) => ({ ...Object.fromEntries(Object.keys(expected[0]).map((k) => [k, r[k as keyof FlowRecord]])) })).length).toBe(expected.length);
    for (const e of expected) {
      const r = records.find((x) => byKey(x) === byKey(e));
      expect(r).toMatchObject(e);
    }
    const tcp = records.find((r) => r.protocol === 'tcp')!;
    expect(tcp).toMatchObject({
      node: 'test-node', interface: 'scenario.pcap', direction: 'outbound', src_name: 'laptop', src_type: 'user',
      dst_name: '', dst_type: 'external', end_reason: 'tcp_close', record_kind: 'final', seq: 0,
      flow_start_us: T0_US + 2000, end_us: T0_US + 9000,
    });
    expect(records.find((r) => r.dst_port === 53)).toMatchObject({ dst_name: 'resolver', dst_type: 'node', direction: 'outbound' });
    expect(p.summary()).toMatchObject({
      packets: frames.length, decoded: frames.length - 2, skipped: 1, malformed: 1, flows: 4, records: 4,
      dns: { responses: 1, addresses: 1, malformed: 0 },
    });
    expect(sink.flushes).toBe(1);
  });

  it('names a flow from a DNS answer read after its first packet but dated before it, never from one dated after', async () => {
    const file = join(dir, 'late-answers.pcap');
    const at = (t: number, ip: number[]) => ({ tsUs: T0_US + t, bytes: ethernet(ip) });
    const answer = (name: string, address: string) => ipPacket('10.0.0.53', '10.0.0.1', 17, udpDatagram(53, 53000, dnsResponse(name, [address])));
    const syn = (dst: string, sport: number) => ipPacket('10.0.0.1', dst, 6, tcpSegment(sport, 443, TCP.SYN));
    writePcap(file, [
      at(1000, syn('93.184.216.1', 40001)),
      at(3000, syn('93.184.216.2', 40002)),
      at(500, answer('early.example', '93.184.216.1')), // (another capture queue's packet, read late)
      at(4000, answer('late.example', '93.184.216.2')),
      at(5000, syn('93.184.216.1', 40001)),
    ]);
    const sink = new MemorySink();
    const p = pipeline(sink);
    await p.importFile(file);
    await p.finish();
    const domains = Object.fromEntries(sink.records.filter((r) => r.protocol === 'tcp').map((r) => [r.dst_ip, r.dst_domain]));
    expect(domains).toEqual({ '93.184.216.1': 'early.example', '93.184.216.2': '' });
  });

  it('continues flows across files and stamps each flow with the file it started in', async () => {
    const a = join(dir, 'a.pcap');
    const b = join(dir, 'b.pcap');
    const pkt = (t: number, fromClient: boolean) => ({
      tsUs: T0_US + t,
      bytes: ethernet(fromClient
        ? ipPacket('10.0.0.1', '10.0.0.9', 17, udpDatagram(30000, 30001, [1, 2, 3]))
        : ipPacket('10.0.0.9', '10.0.0.1', 17, udpDatagram(30001, 30000, [1]))),
    });
    writePcap(a, [pkt(0, true), pkt(10, false)]);
    writePcap(b, [pkt(20, true), pkt(30, true)]);
    const sink = new MemorySink();
    const p = pipeline(sink);
    await p.importFile(a);
    await p.importFile(b);
    await p.finish();
    expect(sink.records).toHaveLength(1);
    expect(sink.records[0]).toMatchObject({ interface: 'a.pcap', packets_tx: 3, packets_rx: 1, bytes_tx: 3 * 31, bytes_rx: 29, end_reason: 'shutdown' });
  });

  it('a pcapng mixing link types (Ethernet and raw IP interfaces) is decoded per interface', async () => {
    const eth = await makeCapture({ seed: 21, flows: 40, linkType: 'ethernet' });
    const raw = await makeCapture({ seed: 22, flows: 30, linkType: 'raw' });
    try {
      const mixed = join(dir, 'eth0-and-wg0.pcapng');
      execFileSync('mergecap', ['-F', 'pcapng', '-w', mixed, eth.pcapPath, raw.pcapPath]);
      const sink = new MemorySink();
      const p = pipeline(sink);
      await p.importFile(mixed);
      await p.finish();
      expect(p.summary()).toMatchObject({ packets: eth.summary.packets + raw.summary.packets, decoded: eth.summary.packets + raw.summary.packets });
      const bytes = sink.records.reduce((n, r) => n + r.bytes_tx + r.bytes_rx, 0);
      expect(bytes).toBe(eth.summary.ip_bytes + raw.summary.ip_bytes);
    } finally {
      eth.cleanup();
      raw.cleanup();
    }
  });
});

const corpus = resolve(__dirname, '../../../shared/corpus/tcpdump');
if (!existsSync(corpus)) console.warn(`pipeline.test: corpus ${corpus} missing, skipping the corpus import`);

(existsSync(corpus) ? describe : describe.skip)('tcpdump corpus', () => {
  it('imports every file without crashing; every packet is counted; every record is schema-valid', async () => {
    const files = readdirSync(corpus).filter((f) => /\.(pcap|pcapng)$/.test(f));
    expect(files.length).toBeGreaterThan(500);
    let packets = 0;
    let records = 0;
    const refused: Record<string, number> = {};
    for (const f of files) {
      const sink = new MemorySink();
      const p = pipeline(sink);
      try {
        await p.importFile(join(corpus, f));
      } catch (err) {
        if (!(err instanceof CaptureFileError || err instanceof UnsupportedLinkTypeError)) throw new Error(`${f}: ${String(err)}`);
        refused[(err as Error).constructor.name] = (refused[(err as Error).constructor.name] ?? 0) + 1;
      }
      await p.finish();
      const s = p.summary();
      const counted = Object.values(p.decodeCounts()).reduce((a, n) => a + n, 0);
      expect([f, counted]).toEqual([f, s.packets]);
      for (const r of sink.records) {
        if (!Value.Check(FlowRecordSchema, r)) throw new Error(`${f}: invalid record ${JSON.stringify(r)}: ${Value.Errors(FlowRecordSchema, r).First()?.message}`);
      }
      packets += s.packets;
      records += sink.records.length;
    }
    expect(packets).toBeGreaterThan(5000);
    expect(records).toBeGreaterThan(500);
  });
});

privileged('live capture on loopback').describe('live capture (loopback)', () => {
  it('captures a UDP exchange and flushes it on stop with exact counts', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    const port = server.address().port;
    server.on('message', (msg, from) => server.send(Buffer.alloc(msg.length * 2), from.port, from.address));
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
    const sink = new MemorySink();
    const p = pipeline(sink, ['127.0.0.1']);
    const live = p.startLive({ filter: `udp and port ${port}`, bufferTimeoutMs: 10 }, ['lo']);
    try {
      let replies = 0;
      client.on('message', () => replies++);
      for (let i = 1; i <= 5; i++) {
        client.send(Buffer.alloc(i * 10), port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 20));
      }
      const deadline = Date.now() + 5000;
      while (replies < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 300)); // let libpcap deliver the last packets
    } finally {
      await live.stop();
      // libpcap (TPACKET_V3) only honours the break request on the next packet; without one
      // the capture's poll handle stays open and keeps the process alive.
      client.send(Buffer.alloc(1), port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 100));
      client.close();
      server.close();
    }
    expect(sink.records).toHaveLength(1);
    const sent = [10, 20, 30, 40, 50];
    expect(sink.records[0]).toMatchObject({
      protocol: 'udp', src_ip: '127.0.0.1', dst_port: port, interface: 'lo', direction: 'outbound', end_reason: 'shutdown',
      packets_tx: 5, packets_rx: 5,
      bytes_tx: sent.reduce((a, n) => a + 28 + n, 0), bytes_rx: sent.reduce((a, n) => a + 28 + 2 * n, 0),
    });
  });
});
