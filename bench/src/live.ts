/**
 * Live capture: a sender (live-senders.ts: tcpreplay paced, netsniff-ng or tcpreplay at top speed)
 * replays the live corpus from one network namespace over a veth pair to another, where the
 * capturing tool listens, at increasing rates and at top speed. For Flowmesh (capture alone,
 * capture into decode + flow table, and the real `flowmesh-agent run` with its store and API)
 * and for softflowd at the same rates: packets sent (counted on the far veth end), packets the
 * tool captured, libpcap's kernel drops as a share of packets sent, and the CPU the capturing
 * process used (user + system, all threads) as a share of its core and as packets per
 * CPU-second. The highest rate with under 0.1 % drops is reported per tool. First, each sender
 * alone (no capturer) at top speed: the ceiling of this machine.
 *
 * The sender is pinned to CPU 0 and the capturing tool (all its threads) to CPU 1, so the
 * tool has one core, as the live target says. Every tool captures in promiscuous mode (the
 * replayed frames carry foreign MAC addresses) with a 32 MiB ring. Namespaces, interfaces and
 * processes are torn down on exit, failure and Ctrl-C by the lab harness (lab/src/netns.ts),
 * whose names start with `fm-`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Corpus } from './corpus';
import { recordFailure, recordSkip } from './failures';
import { log } from './log';
import { AGENT_CLI, LAB_NETNS, WORKER } from './paths';
import { CAPTURE_CPU, FarEndCounter, canPin, netsniffSender, senderFor, sendCounted, tcpreplaySender, type SenderSpec, type Sent } from './live-senders';
import { collectOutput, haveCommand, runTool, stopChild } from './proc';
import { spread, type Spread } from './stats';
import { formatTable, pct, ratio, si, spreadText } from './table';

/** The parts of the lab harness (lab/dist/netns.js) used here. */
interface LabNamespace {
  name: string;
  spawn(cmd: string, args: readonly string[], options?: { stopGraceMs?: number }): ChildProcess;
}
interface LabLike {
  namespace(role: string): LabNamespace;
  veth(a: LabNamespace | null, aRole: string, aCidr: string | null, b: LabNamespace, bRole: string, bCidr: string | null): [string, string];
  destroy(): string[];
}

const RING_BYTES = 32 << 20;
const STEP_SECONDS = 3;
/** Top speed sends at least this many packets (whole passes over the corpus), so the step lasts long enough to fill a ring. */
const TOP_SPEED_PACKETS = 1_000_000;
export const DROP_TARGET = 0.001;
const AGENT = 'flowmesh agent';

export interface LiveStep {
  tool: string;
  requestedPps: number | 'top';
  sender: string;
  sent: number;
  achievedPps: number;
  captured: number;
  kernelDrops: number;
  dropShare: number;
  /** CPU time of the capturing process during the replay, as a share of one core. */
  cpuShare: number;
  /** Packets sent per CPU-second the capturing process used from the replay's start until the ring drained. */
  packetsPerCpuSecond: number;
  /**
   * Flowmesh processes: the same through their stop (the final records of open flows, the
   * store's last flush, roll-up and checkpoint); NaN for softflowd, whose CPU is read live.
   */
  packetsPerCpuSecondThroughStop: number;
}

/** A sender alone at top speed, nothing capturing: what this machine can send at all. */
export interface SenderCeiling {
  sender: string;
  pps: Spread;
}

export interface LiveResult {
  corpus: string;
  /** Sender on CPU 0 and capturing tool on CPU 1 (false on a single CPU or without taskset). */
  pinned: boolean;
  senderCeilings: SenderCeiling[];
  rates: (number | 'top')[];
  runs: number;
  steps: LiveStep[];
  summary: {
    tool: string; requestedPps: number | 'top'; sender: string; achievedPps: Spread; dropShare: Spread; capturedShare: Spread; cpuShare: Spread;
    packetsPerCpuSecond: Spread; packetsPerCpuSecondThroughStop: Spread;
  }[];
  bestRateUnderTarget: Record<string, number | null>;
  skipped?: string;
}

function loadLab(): LabLike {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Lab } = require(LAB_NETNS) as { Lab: new () => LabLike };
  return new Lab();
}

/** User + system CPU seconds of a process so far (Linux clock ticks, 100 per second). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

const DRAIN_MS = 1000;
/**
 * Wait between a tool saying it captures and the first packet: the steady state is measured,
 * not start-up (netsniff-ng sends its first packet at once, tcpreplay -K only after loading
 * the file, so without this the senders would differ in the grace they give the tool).
 */
const SETTLE_MS = 1000;

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

/**
 * Runs the replay, waits for the ring to drain (100 ms buffer timeout), and measures the
 * capturing process's CPU: its share of a core during the replay, and packets per
 * CPU-second over replay plus drain (the cost per packet, independent of the sender's speed).
 * `cpuAtStart` is the process's CPU time when the replay began, for a figure through its stop.
 */
async function sendMeasured(pid: number | undefined, send: () => Promise<Sent>): Promise<Sent & { cpuShare: number; packetsPerCpuSecond: number; cpuAtStart: number }> {
  const cpu0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  const sent = await send();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuReplay = cpuSeconds(pid) - cpu0;
  await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
  const cpuAll = cpuSeconds(pid) - cpu0;
  return { ...sent, cpuShare: cpuReplay / wall, packetsPerCpuSecond: sent.sent / Math.max(cpuAll, 0.01), cpuAtStart: cpu0 };
}

function safeRead(counter: FarEndCounter): number {
  try {
    return counter.read();
  } catch {
    return NaN;
  }
}

async function waitFor(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function replay(spec: SenderSpec, tx: LabNamespace, ifname: string, pcap: string, rate: number | 'top', packets: number, counter: FarEndCounter): Promise<Sent> {
  const limit = rate === 'top' ? Math.ceil(TOP_SPEED_PACKETS / packets) * packets : Math.max(1000, Math.min(rate * STEP_SECONDS, 5_000_000));
  return sendCounted(spec, tx.name, ifname, pcap, rate, limit, packets, counter);
}

/** The capturing tool's command, pinned to its own CPU when the machine has two. */
function captureCommand(pin: boolean, argv: string[]): [string, string[]] {
  return pin ? ['taskset', ['-c', String(CAPTURE_CPU), ...argv]] : [argv[0], argv.slice(1)];
}

type StepRunner = (rx: LabNamespace, ifname: string, send: () => Promise<Sent>, work: string, pin: boolean) => Promise<Omit<LiveStep, 'tool' | 'requestedPps'>>;

/**
 * Flowmesh's parts, cheapest first, so the report shows where the agent's CPU goes: capture
 * alone (the addon, a handler that does nothing), capture into decode + flow table (records
 * counted, not stored), and the real agent (`flowmesh-agent run`: store, API, metrics).
 */
const FLOWMESH_TOOLS: { name: string; argv: (ifname: string, db: string) => string[] }[] = [
  { name: 'flowmesh capture only', argv: (ifname) => [process.execPath, WORKER, 'live-capture', ifname] },
  { name: 'flowmesh decode+flow table', argv: (ifname) => [process.execPath, WORKER, 'live-table', ifname] },
  {
    name: AGENT,
    argv: (ifname, db) => [
      process.execPath, AGENT_CLI, 'run', '--interface', ifname, '--promiscuous', '--db', db, '--listen', '127.0.0.1:9477', '--token', 'bench', '--node', 'bench', '--log-level', 'info',
    ],
  },
];

/** One rate through a Flowmesh process: start it, replay, stop it, read its final capture counters. */
const flowmeshStep = (argv: (ifname: string, db: string) => string[]): StepRunner => async (rx, ifname, send, work, pin) => {
  const db = join(work, `live-${Date.now()}.duckdb`);
  const child = rx.spawn(...captureCommand(pin, argv(ifname, db)), { stopGraceMs: 20_000 });
  const output = collectOutput(child);
  try {
    // JSON lines on stderr (stdout stays free for data)
    await waitFor(() => output.stderr().includes('"capturing"') || child.exitCode !== null, 30_000, 'Flowmesh to start capturing');
    if (child.exitCode !== null) throw new Error(`exited: ${output.stderr().slice(-300)}`);
    await settle();
    const sent = await sendMeasured(child.pid, send); // `ip netns exec` and taskset exec the command: same pid
    await stopChild(child, 30_000, 'SIGTERM');
    const stopped = output.stderr().split('\n').reverse().find((l) => l.includes('"stopped"'));
    if (!stopped) throw new Error(`no final counters printed: ${output.stderr().slice(-300)}`);
    const { capture, cpuSeconds } = JSON.parse(stopped) as { capture: { delivered: number; kernelDrops: number }; cpuSeconds?: number };
    if (typeof cpuSeconds !== 'number') throw new Error(`no cpuSeconds in the final counters: ${stopped}`);
    // Through the stop: what the store defers (its last flush, the checkpoint compressing what
    // the run wrote) is part of the cost of these packets; so is shutdown work a longer run
    // would spread thinner (the final records of open flows, the last roll-up). Both are shown.
    const packetsPerCpuSecondThroughStop = sent.sent / Math.max(cpuSeconds - sent.cpuAtStart, 0.01);
    return {
      sender: sent.sender, sent: sent.sent, achievedPps: sent.pps, captured: capture.delivered, kernelDrops: capture.kernelDrops, dropShare: capture.kernelDrops / sent.sent,
      cpuShare: sent.cpuShare, packetsPerCpuSecond: sent.packetsPerCpuSecond, packetsPerCpuSecondThroughStop,
    };
  } finally {
    await stopChild(child, 5000, 'SIGKILL');
    rmSync(db, { force: true });
    rmSync(`${db}.wal`, { force: true });
  }
};

function softflowdCounters(text: string): { received: number; dropped: number } {
  return {
    received: Number(/Packets received by libpcap: (\d+)/.exec(text)?.[1] ?? NaN),
    dropped: Number(/Packets dropped by libpcap: (\d+)/.exec(text)?.[1] ?? NaN),
  };
}

/** One rate through softflowd (exporting to a port on the namespace's loopback), counters from softflowctl. */
const softflowdStep: StepRunner = async (rx, ifname, send, work, pin) => {
  const ctl = join(work, `softflowd-${Date.now()}.ctl`);
  const child = rx.spawn(...captureCommand(pin, ['softflowd', '-i', ifname, '-n', '127.0.0.1:9995', '-v', '9', '-6', '-d', '-m', '2000000', '-B', String(RING_BYTES), '-c', ctl, '-p', `${ctl}.pid`]));
  const output = collectOutput(child);
  try {
    await waitFor(() => /starting data collection/.test(output.stdout() + output.stderr()) || child.exitCode !== null, 10_000, 'softflowd to start');
    await settle();
    const sent = await sendMeasured(child.pid, send);
    const stats = await runTool('softflowctl', ['-c', ctl, 'statistics'], { timeoutS: 10 });
    const counters = softflowdCounters(stats.stdout);
    // received counts every packet libpcap saw (dropped ones included on Linux TPACKET_V3)
    return { sender: sent.sender, sent: sent.sent, achievedPps: sent.pps, captured: counters.received - counters.dropped, kernelDrops: counters.dropped, dropShare: counters.dropped / sent.sent, cpuShare: sent.cpuShare, packetsPerCpuSecond: sent.packetsPerCpuSecond, packetsPerCpuSecondThroughStop: NaN };
  } finally {
    await stopChild(child, 5000);
    rmSync(ctl, { force: true });
  }
};

/** Each installed sender alone at top speed (nothing capturing), one pass over the corpus, `runs` times, interleaved. */
async function measureSenders(tx: LabNamespace, ifname: string, corpus: Corpus, pin: boolean, runs: number, counter: FarEndCounter): Promise<SenderCeiling[]> {
  const specs = [tcpreplaySender(false), ...(pin ? [tcpreplaySender(true)] : []), ...(haveCommand('netsniff-ng') ? [netsniffSender(pin)] : [])];
  const rates = new Map<string, number[]>(specs.map((s) => [s.name, []]));
  for (let r = 0; r < runs; r++) {
    for (const spec of specs) {
      try {
        const sent = await sendCounted(spec, tx.name, ifname, corpus.path, 'top', corpus.truth.packets, corpus.truth.packets, counter);
        rates.get(spec.name)?.push(sent.pps);
        log.step(`  ${spec.name} alone`, { sent: sent.sent, pps: Math.round(sent.pps) });
      } catch (error) {
        recordFailure(`live: sender ${spec.name} alone`, (error as Error).message);
      }
    }
  }
  return specs.map((s) => ({ sender: s.name, pps: spread(rates.get(s.name) ?? []) }));
}

export async function runLive(corpus: Corpus, quick: boolean, runs = quick ? 1 : 2): Promise<LiveResult> {
  const rates: (number | 'top')[] = quick ? [100_000, 'top'] : [100_000, 250_000, 500_000, 1_000_000, 'top'];
  const pin = canPin();
  const result: LiveResult = { corpus: corpus.path, pinned: pin, senderCeilings: [], rates, runs, steps: [], summary: [], bestRateUnderTarget: {} };
  if (process.getuid?.() !== 0) {
    result.skipped = 'not root: network namespaces need root';
    recordSkip('live', result.skipped);
    return result;
  }
  if (!pin) log.warn('live: fewer than 2 CPUs or no taskset: sender and capturing tool share the CPUs (not the one-core measurement)');
  if (!haveCommand('netsniff-ng')) log.warn('live: netsniff-ng not installed (Debian package netsniff-ng): top speed uses tcpreplay, the slower sender');
  const missing = ['tcpreplay', 'softflowd', 'softflowctl', 'ip'].filter((c) => !haveCommand(c));
  if (missing.length) {
    result.skipped = `not installed: ${missing.join(', ')}`;
    recordSkip('live', result.skipped);
  }
  const lab = loadLab();
  const work = mkdtempSync(join(tmpdir(), 'flowmesh-bench-live-'));
  try {
    const tx = lab.namespace('btx');
    const rx = lab.namespace('brx');
    const [txIf, rxIf] = lab.veth(tx, 'btx0', null, rx, 'brx0', null);
    // a process living in the receiving namespace, through which its /sys is read
    const anchor = rx.spawn('sleep', ['3600']);
    if (anchor.pid === undefined) throw new Error('could not start the namespace anchor process');
    const counter = new FarEndCounter(anchor.pid, rxIf);
    await waitFor(() => Number.isFinite(safeRead(counter)), 5000, 'the receiving namespace to be readable');
    log.step(`live: senders alone at top speed (${pin ? 'pinned to CPU 0' : 'unpinned'})`);
    result.senderCeilings = await measureSenders(tx, txIf, corpus, pin, runs, counter);
    const tools = [...FLOWMESH_TOOLS.map((t) => ({ name: t.name, step: flowmeshStep(t.argv) })), ...(missing.length ? [] : [{ name: 'softflowd', step: softflowdStep }])];
    for (let r = 0; r < runs; r++) {
      for (const rate of rates) {
        for (const tool of tools) {
          const spec = senderFor(rate, pin, corpus.truth.packets, TOP_SPEED_PACKETS);
          log.step(`live run ${r + 1}/${runs}: ${tool.name} at ${rate === 'top' ? 'top speed' : `${si(rate)} packets/s`} (${spec.name})`);
          try {
            const step = await tool.step(rx, rxIf, () => replay(spec, tx, txIf, corpus.path, rate, corpus.truth.packets, counter), work, pin);
            result.steps.push({ tool: tool.name, requestedPps: rate, ...step });
            log.step(`  ${tool.name}`, { sent: step.sent, pps: Math.round(step.achievedPps), drops: step.kernelDrops });
          } catch (error) {
            recordFailure(`live: ${tool.name} at ${rate === 'top' ? 'top speed' : `${si(rate)} packets/s`}`, (error as Error).message);
          }
        }
      }
    }
    await stopChild(anchor, 2000, 'SIGKILL');
  } finally {
    const failures = lab.destroy();
    if (failures.length) recordFailure('live: tear-down', failures.join('; '));
    rmSync(work, { recursive: true, force: true });
  }
  for (const tool of [...new Set(result.steps.map((s) => s.tool))]) {
    let best: number | null = null;
    for (const rate of rates) {
      const steps = result.steps.filter((s) => s.tool === tool && s.requestedPps === rate);
      if (!steps.length) continue;
      const entry = {
        tool, requestedPps: rate, sender: [...new Set(steps.map((s) => s.sender))].join(', '),
        achievedPps: spread(steps.map((s) => s.achievedPps)),
        dropShare: spread(steps.map((s) => s.dropShare)),
        capturedShare: spread(steps.map((s) => s.captured / s.sent)),
        cpuShare: spread(steps.map((s) => s.cpuShare)),
        packetsPerCpuSecond: spread(steps.map((s) => s.packetsPerCpuSecond)),
        packetsPerCpuSecondThroughStop: spread(steps.map((s) => s.packetsPerCpuSecondThroughStop)),
      };
      result.summary.push(entry);
      if (entry.dropShare.median < DROP_TARGET && (best === null || entry.achievedPps.median > best)) best = entry.achievedPps.median;
    }
    result.bestRateUnderTarget[tool] = best;
  }
  return result;
}

/** Per Flowmesh part and rate, its median packets per CPU-second as a share of softflowd's (the live goal, for the agent: at least 1.00x). */
function cpuComparison(live: LiveResult): string {
  const parts: string[] = [];
  for (const tool of FLOWMESH_TOOLS.map((t) => t.name)) {
    const lines: string[] = [];
    for (const rate of live.rates) {
      const ours = live.summary.find((s) => s.tool === tool && s.requestedPps === rate);
      const peer = live.summary.find((s) => s.tool === 'softflowd' && s.requestedPps === rate);
      if (!ours || !peer) continue;
      const throughStop = ours.packetsPerCpuSecondThroughStop.median / peer.packetsPerCpuSecond.median;
      lines.push(`${rate === 'top' ? 'top speed' : si(rate)} ${ratio(ours.packetsPerCpuSecond.median / peer.packetsPerCpuSecond.median)}` +
        (Number.isFinite(throughStop) ? ` (${ratio(throughStop)} through its stop)` : ''));
    }
    if (lines.length) parts.push(`${tool}: ${lines.join(', ')}`);
  }
  return parts.length ? ` Packets per CPU-second as a share of softflowd's (medians): ${parts.join('; ')}.` : '';
}

/** Per rate, the agent's median drop share against softflowd's ("never more drops than softflowd"). */
function dropComparison(live: LiveResult): string {
  const lines: string[] = [];
  for (const rate of live.rates) {
    const agent = live.summary.find((s) => s.tool === AGENT && s.requestedPps === rate);
    const peer = live.summary.find((s) => s.tool === 'softflowd' && s.requestedPps === rate);
    if (!agent || !peer) continue;
    const verdict = agent.dropShare.median <= peer.dropShare.median ? 'not more' : 'MORE';
    // counts beside the shares: a few packets in millions round to 0.000 % either way
    const dropped = (tool: string) => {
      const steps = live.steps.filter((s) => s.tool === tool && s.requestedPps === rate);
      const sum = (pick: (s: LiveStep) => number) => steps.reduce((total, s) => total + pick(s), 0);
      return `${sum((s) => s.kernelDrops).toLocaleString('en')} of ${si(sum((s) => s.sent))} packets`;
    };
    lines.push(`${rate === 'top' ? 'top speed' : si(rate)}: ${pct(agent.dropShare.median, 3)} (${dropped(AGENT)}) vs ${pct(peer.dropShare.median, 3)} (${dropped('softflowd')}) (${verdict})`);
  }
  return lines.length ? `Agent drops vs softflowd's (medians): ${lines.join('; ')}.` : '';
}

export function reportLive(live: LiveResult): string {
  if (live.skipped && live.steps.length === 0) return `\n### Live capture\n\nskipped: ${live.skipped}\n`;
  const ceilings = live.senderCeilings.map((c) => [c.sender, spreadText(c.pps, (x) => si(x))]);
  const rows = live.summary.map((s) => [
    s.tool, s.requestedPps === 'top' ? 'top speed' : si(s.requestedPps), s.sender, spreadText(s.achievedPps, (x) => si(x)), spreadText(s.capturedShare, (x) => pct(x, 3)), spreadText(s.dropShare, (x) => pct(x, 3)),
    spreadText(s.cpuShare, (x) => pct(x, 0)),
    spreadText(s.packetsPerCpuSecond, (x) => si(x)),
    Number.isFinite(s.packetsPerCpuSecondThroughStop.median) ? spreadText(s.packetsPerCpuSecondThroughStop, (x) => si(x)) : '–',
  ]);
  const best = Object.entries(live.bestRateUnderTarget).map(([tool, pps]) => `${tool}: ${pps === null ? 'none of the rates' : `${si(pps)} packets/s`}`).join('; ');
  const placement = live.pinned ? 'sender pinned to CPU 0, capturing tool (all its threads) to CPU 1' : 'sender and capturing tool unpinned, sharing the CPUs';
  return (
    formatTable(`Live senders alone at top speed, nothing capturing (packets/s arriving on the far veth end, ${live.runs} run(s))`, ['sender', 'packets/s'], ceilings) +
    '\nThe veth transmit runs the receiving side in the sender\'s softirq, so this kernel work (and, with a capturer, its AF_PACKET copy) is charged to the sender\'s core: the ceiling of this machine for the rates below.\n' +
    formatTable(`Live capture over a veth pair (${placement}; ${live.runs} run(s) per rate)`, ['tool', 'requested', 'sender', 'achieved packets/s', 'captured', 'kernel drops', 'CPU during replay (one core)', 'packets per CPU-second', '… through its stop'], rows) +
    `\nHighest rate with under ${pct(DROP_TARGET, 1)} drops: ${best}. ${dropComparison(live)}${cpuComparison(live)} Achieved rates are packets arriving on the far veth end over the replay: ` +
    'where they fall short of the request, the sender is the limit. Packets per CPU-second (all threads of the capturing process, from the replay through the drain) is the cost per packet: ' +
    'what one fully used core could sustain, as an estimate. "Through its stop" (Flowmesh processes) also counts what they do when stopped: the final records of the flows still ' +
    'open, the store\'s last flush, roll-up and checkpoint (work the drain figure leaves out, notably the compression a checkpoint does for the whole run, and shutdown work a longer run would spread thinner).\n'
  );
}
