/**
 * Ground truth for live tests: a tcpdump capture taken inside a namespace on the same
 * interface the agent watches, and per-conversation, per-direction totals read back from
 * the pcap with tshark (IP-layer lengths, the unit the agent's counters use).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Namespace } from './netns';
import { runSync, stopChild } from './run';

const READY_TIMEOUT_MS = 5000;

export interface CaptureStats {
  captured: number;
  droppedByKernel: number;
}

export interface Capture {
  file: string;
  child: ChildProcess;
  /**
   * Stops tcpdump (it flushes the file on SIGTERM), waits for it to exit and returns its
   * counters; throws when the kernel dropped packets, because then it is no ground truth.
   */
  stop(): Promise<CaptureStats>;
}

/**
 * Starts `tcpdump -w` on `ifname` inside `ns`; resolves once it is listening.
 *
 * Snap length 256 and a 16 MiB buffer on purpose: in immediate mode libpcap sizes each
 * ring-buffer slot by the snap length, so the default (262144) leaves only a handful of
 * slots in the default 2 MiB buffer and a fast burst over a tunnel is dropped by the kernel.
 * 256 bytes hold every IP and TCP header; lengths come from the headers, not the snap.
 */
export async function startCapture(ns: Namespace, ifname: string, fileName: string): Promise<Capture> {
  const file = join(ns.lab.workDir, fileName);
  const child = ns.spawn('tcpdump', ['-i', ifname, '-n', '-s', '256', '-B', '16384', '-U', '--immediate-mode', '-w', file]);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump on ${ifname} not ready after ${READY_TIMEOUT_MS} ms: ${stderr}`)), READY_TIMEOUT_MS);
    const poll = setInterval(() => {
      if (!stderr.includes('listening on')) return;
      clearInterval(poll);
      clearTimeout(timer);
      resolve();
    }, 10);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`tcpdump on ${ifname} exited (${code}): ${stderr}`));
    });
  });
  child.stdout?.resume();
  const stop = async (): Promise<CaptureStats> => {
    await stopChild(child);
    const captured = /(\d+) packets? captured/.exec(stderr);
    const dropped = /(\d+) packets? dropped by kernel/.exec(stderr);
    if (!captured || !dropped) throw new Error(`tcpdump on ${ifname} printed no statistics: ${stderr}`);
    const stats = { captured: Number(captured[1]), droppedByKernel: Number(dropped[1]) };
    if (stats.droppedByKernel > 0) throw new Error(`tcpdump on ${ifname}: kernel dropped ${stats.droppedByKernel} packets; capture incomplete`);
    return stats;
  };
  return { file, child, stop };
}

/** One IP packet of a capture as tshark reads it. */
export interface IpPacket {
  /** Capture timestamp, epoch µs. */
  timeUs: number;
  src: string;
  dst: string;
  protocol: number;
  srcPort: number;
  dstPort: number;
  ipLength: number;
  tcpFlags: number;
  /** Community ID v1 (seed 0, base64) as Wireshark computes it. */
  communityId: string;
  /** ICMP echo identifier (null for other packets). */
  icmpId: number | null;
  /** DNS message id and whether it is a response (null when not DNS). */
  dnsId: number | null;
  dnsResponse: boolean;
}

/** tshark's epoch seconds with up to 9 decimals ("1700000000.123456000") as integer µs. */
export function epochMicros(text: string): number {
  const [seconds, fraction = ''] = text.split('.');
  return Number(seconds) * 1_000_000 + Number(fraction.padEnd(6, '0').slice(0, 6));
}

/** Every IPv4 packet in a capture file (fields from tshark). */
export function readIpPackets(file: string): IpPacket[] {
  const out = runSync('tshark', [
    '-r', file, '-n', '-Y', 'ip', '--enable-protocol', 'communityid',
    '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=f',
    '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.proto', '-e', 'tcp.srcport', '-e', 'tcp.dstport',
    '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'ip.len', '-e', 'tcp.flags', '-e', 'communityid',
    '-e', 'frame.time_epoch', '-e', 'icmp.ident', '-e', 'dns.id', '-e', 'dns.flags.response',
  ], { timeoutMs: 30_000 });
  return out
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [src, dst, proto, tsp, tdp, usp, udp, len, flags, communityId, time, icmpId, dnsId, dnsResponse] = line.split('\t');
      return {
        timeUs: epochMicros(time),
        icmpId: icmpId ? Number(icmpId) : null,
        dnsId: dnsId ? Number(dnsId) : null,
        dnsResponse: dnsResponse === '1' || dnsResponse === 'True',
        src,
        dst,
        protocol: Number(proto),
        srcPort: Number(tsp || usp || 0),
        dstPort: Number(tdp || udp || 0),
        ipLength: Number(len),
        tcpFlags: flags ? Number.parseInt(flags, 16) : 0,
        communityId: communityId ?? '',
      };
    });
}

export interface DirectionTotals {
  packets: number;
  bytes: number;
  tcpFlags: number;
}

/**
 * Totals of the packets from (srcIp, srcPort) to (dstIp, dstPort) and back, for one
 * protocol (ports 0 = any, e.g. for ICMP).
 */
export function conversationTotals(
  packets: readonly IpPacket[],
  match: { protocol: number; srcIp: string; dstIp: string; srcPort?: number; dstPort?: number },
): { forward: DirectionTotals; reverse: DirectionTotals } {
  const forward = { packets: 0, bytes: 0, tcpFlags: 0 };
  const reverse = { packets: 0, bytes: 0, tcpFlags: 0 };
  const portOk = (want: number | undefined, got: number) => !want || want === got;
  for (const p of packets) {
    if (p.protocol !== match.protocol) continue;
    let side: DirectionTotals | null = null;
    if (p.src === match.srcIp && p.dst === match.dstIp && portOk(match.srcPort, p.srcPort) && portOk(match.dstPort, p.dstPort)) side = forward;
    else if (p.src === match.dstIp && p.dst === match.srcIp && portOk(match.dstPort, p.srcPort) && portOk(match.srcPort, p.dstPort)) side = reverse;
    if (side) {
      side.packets += 1;
      side.bytes += p.ipLength;
      side.tcpFlags |= p.tcpFlags;
    }
  }
  return { forward, reverse };
}

/**
 * Moves every packet of a pcap file (not pcapng) by `seconds` in time, in place: standing
 * for traffic captured earlier (e.g. yesterday's). Either byte order, micro- or nanosecond
 * timestamps; only the seconds of each record header change.
 */
export function shiftPcapTime(file: string, seconds: number): number {
  const buf = readFileSync(file);
  const magic = buf.readUInt32LE(0);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error(`${file}: not a pcap file (magic 0x${magic.toString(16)})`);
  }
  const read = (at: number) => (little ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const write = (value: number, at: number) => (little ? buf.writeUInt32LE(value, at) : buf.writeUInt32BE(value, at));
  let packets = 0;
  for (let at = 24; at + 16 <= buf.length; at += 16 + read(at + 8)) {
    write(read(at) + seconds, at);
    packets += 1;
  }
  writeFileSync(file, buf);
  return packets;
}
