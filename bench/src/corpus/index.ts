/**
 * The corpora every section reads, generated once into the cache folder (never the repo)
 * and reused while their parameters are unchanged: the offline mix (about 5 M packets and
 * 200 k connections in the full run) twice, cut to a snap length of 128 as flow exporters
 * capture and with whole frames as a real capture holds them, small full-length frames for
 * live replay, and single-packet flows for the memory section. Each comes with its ground truth.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentHasFile } from '../agent';
import { log } from '../log';
import { AGENT_CLI, AGENT_DIST, cacheDir } from '../paths';
import { runTool } from '../proc';
import { writeSyntheticCapture, type CaptureTruth, type SyntheticOptions } from './synthetic';

export type { CaptureTruth } from './synthetic';

export interface Corpus {
  name: string;
  /** What the corpus is, for report titles ("snap length 128", "full frames"). */
  label: string;
  path: string;
  truth: CaptureTruth;
}

/** A corpus cut to a snap length, or holding whole frames (0 or absent). */
function labelFor(snapLen: number | undefined): string {
  return snapLen ? `snap length ${snapLen}` : 'full frames';
}

/** Deletes cached corpora of an earlier generator or parameter version (`<prefix><key>.pcap*`). */
function removeOlderVersions(prefix: string): void {
  const dir = cacheDir('corpus');
  for (const file of readdirSync(dir)) {
    if (file.startsWith(prefix) && /^[0-9a-f]{12}\.pcap/.test(file.slice(prefix.length))) rmSync(join(dir, file), { force: true });
  }
}

/** Returns the cached corpus for these options, generating it when missing. */
export function corpus(name: string, options: SyntheticOptions): Corpus {
  const key = createHash('sha256').update(JSON.stringify({ v: 2, ...options })).digest('hex').slice(0, 12);
  const dir = cacheDir('corpus');
  const path = join(dir, `${name}-${key}.pcap`);
  const truthPath = `${path}.truth.json`;
  if (existsSync(path) && existsSync(truthPath)) {
    return { name, label: labelFor(options.snapLen), path, truth: JSON.parse(readFileSync(truthPath, 'utf8')) as CaptureTruth };
  }
  removeOlderVersions(`${name}-`);
  log.step(`generating corpus ${name}`, { flows: options.flows, file: path });
  const started = Date.now();
  const truth = writeSyntheticCapture(path, options);
  writeFileSync(truthPath, JSON.stringify(truth, null, 2));
  log.step(`corpus ${name} ready`, { packets: truth.packets, flows: truth.flows, seconds: (Date.now() - started) / 1000 });
  return { name, label: labelFor(options.snapLen), path, truth };
}

/** The agent generator's truth file, reduced to what the bench compares. */
interface AgentTruth {
  summary: { packets: number; frame_bytes: number; captured_bytes: number; ip_bytes: number; flows: number; flows_by_protocol: Record<string, number>; first_us: number; last_us: number };
  flows: { packets_rx: number; ip_version: number }[];
}

/**
 * The agent's own generator (`flowmesh-agent gen-pcap`: realistic mix with handshakes, DNS
 * then connections, IPv6 extension headers, VLANs, fragments), cached by its parameters and
 * the generator's code.
 */
async function agentCorpus(name: string, args: { seed: number; packets: number; flows: number; snapLen?: number }): Promise<Corpus> {
  const code = readdirSync(join(AGENT_DIST, 'synth')).filter((f) => f.endsWith('.js')).sort().map((f) => readFileSync(join(AGENT_DIST, 'synth', f)));
  const key = createHash('sha256').update(JSON.stringify(args)).update(Buffer.concat(code)).digest('hex').slice(0, 12);
  const path = join(cacheDir('corpus'), `${name}-agent-${key}.pcap`);
  const truthPath = `${path}.bench-truth.json`;
  if (existsSync(path) && existsSync(truthPath)) return { name, label: labelFor(args.snapLen), path, truth: JSON.parse(readFileSync(truthPath, 'utf8')) as CaptureTruth };
  removeOlderVersions(`${name}-agent-`);
  log.step(`generating corpus ${name} with flowmesh-agent gen-pcap`, { packets: args.packets, flows: args.flows });
  const tmp = `${path}.tmp`;
  const agentTruthPath = `${path}.truth.json`;
  const snapLen = args.snapLen === undefined ? [] : ['--snaplen', String(args.snapLen)];
  await runTool(process.execPath, [AGENT_CLI, 'gen-pcap', '--seed', String(args.seed), '--packets', String(args.packets), '--flows', String(args.flows), ...snapLen, '--out', tmp, '--truth', agentTruthPath], { timeoutS: 1800 });
  const full = JSON.parse(readFileSync(agentTruthPath, 'utf8')) as AgentTruth;
  const s = full.summary;
  const truth: CaptureTruth = {
    generator: 'flowmesh-agent gen-pcap',
    options: args,
    packets: s.packets, flows: s.flows,
    uniflows: full.flows.reduce((n, f) => n + (f.packets_rx > 0 ? 2 : 1), 0),
    ipBytes: s.ip_bytes, frameBytes: s.frame_bytes, capturedBytes: s.captured_bytes,
    flowsByProtocol: s.flows_by_protocol,
    ipv6Flows: full.flows.filter((f) => f.ip_version === 6).length,
    firstUs: s.first_us, lastUs: s.last_us,
  };
  rmSync(agentTruthPath, { force: true }); // the full per-flow truth is large; the bench keeps its totals
  writeFileSync(truthPath, JSON.stringify(truth, null, 2));
  renameSync(tmp, path);
  return { name, label: labelFor(args.snapLen), path, truth };
}

/**
 * Offline ingest corpus (about 5 M packets and 200 k connections; quick: 500 k / 20 k),
 * captured with snap length 128 (headers and DNS answers, as flow exporters capture).
 * From the agent's generator when built, else from the bench's own.
 */
export async function offlineCorpus(quick: boolean): Promise<Corpus> {
  const packets = quick ? 500_000 : 5_000_000;
  const flows = quick ? 20_000 : 200_000;
  if (agentHasFile('synth/cli.js')) return agentCorpus(quick ? 'offline-quick' : 'offline', { seed: 1, packets, flows, snapLen: 128 });
  log.warn('agent gen-pcap not built: using the bench generator for the offline corpus');
  return corpus(quick ? 'offline-quick' : 'offline', {
    seed: 1, flows: quick ? 20_000 : 200_000, meanDataPackets: 30, concurrency: 2000, maxPayload: 1200, snapLen: 128, packetGapUs: 60,
  });
}

/**
 * The same traffic with whole frames (real frame sizes, about 680 bytes on average; about
 * 3.4 GB in the full run, quick: 200 k packets and 8 k connections): what reading a real
 * capture costs, where the snap-length corpus reads few bytes per packet.
 */
export async function fullFrameCorpus(quick: boolean): Promise<Corpus> {
  const name = quick ? 'full-frames-quick' : 'full-frames';
  return agentCorpus(name, { seed: 1, packets: quick ? 200_000 : 5_000_000, flows: quick ? 8_000 : 200_000 });
}

/** Live replay corpus: small frames captured whole, so tcpreplay sends real packets. */
export function liveCorpus(quick: boolean): Corpus {
  return corpus(quick ? 'live-quick' : 'live', {
    seed: 2, flows: quick ? 20_000 : 90_000, meanDataPackets: 10, concurrency: 500, maxPayload: 64, snapLen: 0, packetGapUs: 10,
  });
}

/** N flows of one packet each inside one second: all N are concurrent in any flow table. */
export function concurrentFlowsCorpus(flows: number): Corpus {
  return corpus(`concurrent-${flows}`, {
    seed: 3, flows, meanDataPackets: 0, concurrency: 1, maxPayload: 16, snapLen: 0, packetGapUs: 1, singlePacketFlows: true,
  });
}
