/**
 * Ground truth: synthetic captures (several seeds and link types) with independently computed
 * truth, imported through the real pipeline (libpcap reads the file, the real decoder, DNS
 * observer and flow table). Every flow must match its truth EXACTLY: number of flows,
 * initiator, per-direction packets and IP bytes, TCP flags per side, first/last timestamps,
 * conn_state, ICMP type/code/echo identifier, DNS domain (by time: shared addresses, answers
 * after the flow started), direction, TCP handshake legs and DNS response time (each carried
 * by exactly one record); records of one flow sum to it. One case has 10,000 flows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Pipeline } from '../src/pipeline';
import { Inventory } from '../src/inventory';
import { LocalAddresses } from '../src/flow/direction';
import { DEFAULT_TIMEOUTS } from '../src/flowtable/flowTable';
import type { FlowRecord } from '../src/model/flow';
import { MemorySink } from './support/memory-sink';
import { generateCapture, readTruth, type SynthLinkType, type TruthFlow } from '../src/synth/generate';

const dir = mkdtempSync(join(tmpdir(), 'fm-truth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One flow assembled from its records (sums of the deltas; state and end of the last). */
interface Assembled {
  first: FlowRecord;
  last: FlowRecord;
  records: number;
  packets_tx: number;
  packets_rx: number;
  bytes_tx: number;
  bytes_rx: number;
  tcp_flags_src: number;
  tcp_flags_dst: number;
  end_us: number;
  /** Latency measurements: the values, and how many records carried one. */
  tcp_synack_us: number | null;
  tcp_ack_us: number | null;
  dns_rtt_us: number | null;
  handshakeRecords: number;
  dnsRecords: number;
}

function assemble(records: FlowRecord[]): Map<string, Assembled> {
  const flows = new Map<string, Assembled>();
  for (const r of records) {
    let a = flows.get(r.flow_id);
    if (!a) {
      a = {
        first: r, last: r, records: 0, packets_tx: 0, packets_rx: 0, bytes_tx: 0, bytes_rx: 0, tcp_flags_src: 0, tcp_flags_dst: 0, end_us: 0,
        tcp_synack_us: null, tcp_ack_us: null, dns_rtt_us: null, handshakeRecords: 0, dnsRecords: 0,
      };
      flows.set(r.flow_id, a);
    }
    expect(r.seq).toBe(a.records); // records of a flow arrive in order, seq 0, 1, 2...
    a.records++;
    a.last = r;
    a.packets_tx += r.packets_tx;
    a.packets_rx += r.packets_rx;
    a.bytes_tx += r.bytes_tx;
    a.bytes_rx += r.bytes_rx;
    a.tcp_flags_src |= r.tcp_flags_src;
    a.tcp_flags_dst |= r.tcp_flags_dst;
    a.end_us = Math.max(a.end_us, r.end_us);
    if (r.tcp_synack_us !== null) {
      a.handshakeRecords++;
      a.tcp_synack_us = r.tcp_synack_us;
      a.tcp_ack_us = r.tcp_ack_us;
    }
    if (r.dns_rtt_us !== null) {
      a.dnsRecords++;
      a.dns_rtt_us ??= r.dns_rtt_us;
    }
  }
  return flows;
}

const keyOf = (f: { protocol: string; src_ip: string; src_port: number; dst_ip: string; dst_port: number }, firstUs: number) =>
  `${f.protocol} ${f.src_ip}:${f.src_port} > ${f.dst_ip}:${f.dst_port} @${firstUs}`;

function expectedDirection(t: TruthFlow, host: Set<string>): string {
  return host.has(t.src_ip) ? 'outbound' : host.has(t.dst_ip) ? 'inbound' : 'forwarded';
}

async function importCapture(pcap: string, local: string[], activeTimeoutS: number) {
  const sink = new MemorySink();
  const p = new Pipeline({
    node: 'truth', maxFlows: 65536, timeouts: { ...DEFAULT_TIMEOUTS, activeTimeoutS }, dns: { enabled: true },
    inventory: Inventory.empty(), localAddresses: LocalAddresses.of(local), logger: pino({ level: 'silent' }), progress: false,
  }, sink);
  await p.importFile(pcap);
  await p.finish();
  return { records: sink.records, summary: p.summary() };
}

const cases: [number, SynthLinkType, number][] = [
  [1, 'ethernet', 400],
  [2, 'raw', 300],
  [3, 'sll', 300],
  [4, 'sll2', 300],
  [5, 'null', 300],
  [6, 'ethernet', 600],
  // at this size random addresses also collide with answered ones: attribution by time must hold
  [7, 'raw', 10_000],
];

describe.each(cases)('seed %i, %s, %i flows', (seed, linkType, flows) => {
  // a short active timeout splits long flows into interim records, which must sum to the truth
  it.each([[3600], [2]])('matches the ground truth exactly (active timeout %i s)', async (activeTimeoutS) => {
    const pcap = join(dir, `seed${seed}-${linkType}.pcap`);
    const gen = await generateCapture({ out: pcap, seed, linkType, flows });
    const truth = readTruth(gen.truthPath);
    const { records, summary } = await importCapture(pcap, truth.capture_host, activeTimeoutS);

    expect(summary.packets).toBe(truth.summary.packets);
    expect(summary.malformed).toBe(0);
    const got = assemble(records);
    const byKey = new Map<string, Assembled>();
    for (const a of got.values()) byKey.set(keyOf(a.first, a.first.flow_start_us), a);
    expect(got.size).toBe(truth.flows.length);

    const host = new Set(truth.capture_host);
    const mismatches: string[] = [];
    for (const t of truth.flows) {
      const key = keyOf(t, t.first_us);
      const a = byKey.get(key);
      if (!a) {
        mismatches.push(`missing ${t.scenario} ${key}`);
        continue;
      }
      const actual = {
        ip_version: a.first.ip_version, protocol_number: a.first.protocol_number,
        icmp_type: a.first.icmp_type, icmp_code: a.first.icmp_code,
        packets_tx: a.packets_tx, packets_rx: a.packets_rx, bytes_tx: a.bytes_tx, bytes_rx: a.bytes_rx,
        tcp_flags_src: a.tcp_flags_src, tcp_flags_dst: a.tcp_flags_dst,
        first_us: a.first.flow_start_us, last_us: a.end_us,
        conn_state: a.last.conn_state, dst_domain: a.first.dst_domain, direction: a.first.direction,
        final: a.last.record_kind, icmp_id: a.first.icmp_id,
        tcp_synack_us: a.tcp_synack_us, tcp_ack_us: a.tcp_ack_us, dns_rtt_us: a.dns_rtt_us,
        measured_once: a.handshakeRecords <= 1 && a.dnsRecords <= 1,
      };
      const expected = {
        ip_version: t.ip_version, protocol_number: t.protocol_number, icmp_type: t.icmp_type, icmp_code: t.icmp_code,
        packets_tx: t.packets_tx, packets_rx: t.packets_rx, bytes_tx: t.bytes_tx, bytes_rx: t.bytes_rx,
        tcp_flags_src: t.tcp_flags_src, tcp_flags_dst: t.tcp_flags_dst, first_us: t.first_us, last_us: t.last_us,
        conn_state: t.conn_state, dst_domain: t.dst_domain, direction: expectedDirection(t, host), final: 'final',
        icmp_id: t.icmp_id, tcp_synack_us: t.tcp_synack_us, tcp_ack_us: t.tcp_ack_us, dns_rtt_us: t.dns_rtt_us, measured_once: true,
      };
      for (const k of Object.keys(expected) as (keyof typeof expected)[]) {
        if (actual[k] !== expected[k]) mismatches.push(`${t.scenario} ${key}: ${k} = ${JSON.stringify(actual[k])}, truth ${JSON.stringify(expected[k])}`);
      }
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    // every record's period lies inside its flow, and the totals add up to the file's IP bytes
    expect(records.every((r) => r.flow_start_us <= r.start_us && r.start_us <= r.end_us)).toBe(true);
    expect(records.reduce((n, r) => n + r.bytes_tx + r.bytes_rx, 0)).toBe(truth.summary.ip_bytes);
    if (activeTimeoutS === 2) expect(records.length).toBeGreaterThan(got.size); // interim records happened
    // the scenarios the generator claims to cover are really in the capture
    expect(Object.keys(truth.summary.flows_by_conn_state).sort()).toEqual(expect.arrayContaining(['OTH', 'REJ', 'S0', 'SF']));
    expect(truth.flows.filter((t) => t.dst_domain !== '').length).toBeGreaterThan(0);
    expect(truth.summary.fragments).toBeGreaterThan(0);
  });
});
