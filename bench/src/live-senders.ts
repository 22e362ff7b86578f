/**
 * Packet senders for the live section: they replay the live corpus out of one veth end in
 * the sending namespace, pinned to one CPU, and the rate is measured where the packets
 * arrive (the far end's rx_packets, sampled during the replay), the same way for every
 * sender.
 *
 * Measured on the 2-vCPU development VM (bench/README.md has the method), packets/s arriving
 * on the far veth end, sender pinned to CPU 0. Nothing capturing: tcpreplay 555–710 k
 * (unpinned ~520–650 k), netsniff-ng (PACKET_MMAP TX ring, 1 ms kernel pull; the default
 * 10 µs pull gives 275 k) 610–705 k, trafgen looping 100 k packets 710–755 k. With softflowd
 * capturing on CPU 1: tcpreplay 413–545 k, netsniff-ng 520–548 k, trafgen 481 k. All are
 * bound by the same kernel work on the sender's core: the veth transmit runs the receiving
 * side, including the capturer's AF_PACKET copy, in the sender's softirq (about 1.4 µs per
 * packet without a capturer, 1.9 µs with one); none reaches 1 M packets/s on one core here.
 * netsniff-ng, slightly faster and steadier, sends at top speed when installed and one pass
 * over the corpus is long enough (it cannot loop; each restart costs about 80 ms);
 * tcpreplay paces the fixed rates (netsniff-ng cannot pace; trafgen can, but needs the pcap
 * converted to its text format, about 90 s and 500 MB for the 1 M-packet corpus).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { haveCommand, runTool } from './proc';

/** CPU the sender runs on; the capturing tool gets the next one, so each has a core to itself. */
export const SENDER_CPU = 0;
export const CAPTURE_CPU = 1;
const SAMPLE_MS = 10;
const SEND_TIMEOUT_S = 120;
/** A bound on the number of back-to-back sender runs one step may chain (netsniff-ng cannot loop). */
const MAX_PASSES = 64;

/** Packets received by an interface inside a namespace, read through a process living in it. */
export class FarEndCounter {
  private readonly path: string;

  /** `anchorPid`: any process inside the receiving namespace (its mount namespace shows that namespace's /sys). */
  constructor(anchorPid: number, ifname: string) {
    this.path = `/proc/${anchorPid}/root/sys/class/net/${ifname}/statistics/rx_packets`;
  }

  read(): number {
    return Number(readFileSync(this.path, 'utf8'));
  }
}

export interface Sent {
  /** Packets that arrived on the far end during the replay. */
  sent: number;
  /** Those packets over the time between the first and the last arrival seen. */
  pps: number;
  sender: string;
}

export interface SenderSpec {
  name: string;
  /** `ip netns exec NS` + this command sends the corpus once (or `loops` times when it can loop). */
  command(ifname: string, pcap: string, rate: number | 'top', limit: number, loops: number): string[];
  /** Whether one command sends `limit` packets itself (else it is run `loops` times). */
  loopsItself: boolean;
}

/** Pinning applies when there are two CPUs or more; with one, sender and tool share it (said in the report). */
export function canPin(): boolean {
  return cpus().length >= 2 && haveCommand('taskset');
}

function pinned(cpu: number, argv: string[], pin: boolean): string[] {
  return pin ? ['taskset', '-c', String(cpu), ...argv] : argv;
}

export function tcpreplaySender(pin: boolean): SenderSpec {
  return {
    name: pin ? 'tcpreplay (pinned)' : 'tcpreplay',
    loopsItself: true,
    command: (ifname, pcap, rate, limit, loops) =>
      pinned(SENDER_CPU, ['tcpreplay', '-i', ifname, '-K', ...(rate === 'top' ? ['--topspeed'] : ['--pps', String(rate)]), '--loop', String(loops), '--limit', String(limit), pcap], pin),
  };
}

/** netsniff-ng replays through a PACKET_MMAP TX ring; a 1 ms kernel pull (default 10 µs) doubles its rate here. */
export function netsniffSender(pin: boolean): SenderSpec {
  return {
    name: pin ? 'netsniff-ng (pinned)' : 'netsniff-ng',
    loopsItself: false,
    command: (ifname, pcap) =>
      pinned(SENDER_CPU, ['netsniff-ng', '--in', pcap, '--out', ifname, '--silent', '--mmap', '--ring-size', '64MiB', '--kernel-pull', '1000', '--no-sock-mem', '--notouch-irq'], pin),
  };
}

/**
 * The sender for a rate: paced rates need tcpreplay; top speed takes netsniff-ng when
 * installed and one pass sends `minPackets` (its restarts between passes would lower the rate).
 */
export function senderFor(rate: number | 'top', pin: boolean, corpusPackets: number, minPackets: number): SenderSpec {
  return rate === 'top' && haveCommand('netsniff-ng') && corpusPackets >= minPackets ? netsniffSender(pin) : tcpreplaySender(pin);
}

/**
 * Sends `limit` packets (whole passes over the corpus) from namespace `txName` and measures
 * their arrival on the far end.
 */
export async function sendCounted(spec: SenderSpec, txName: string, ifname: string, pcap: string, rate: number | 'top', limit: number, corpusPackets: number, counter: FarEndCounter): Promise<Sent> {
  const loops = Math.ceil(limit / corpusPackets);
  const passes = spec.loopsItself ? 1 : Math.min(loops, MAX_PASSES);
  const base = counter.read();
  const samples: [bigint, number][] = [[process.hrtime.bigint(), base]];
  let done = false;
  const replay = (async () => {
    try {
      for (let p = 0; p < passes; p++) await runTool('ip', ['netns', 'exec', txName, ...spec.command(ifname, pcap, rate, limit, loops)], { timeoutS: SEND_TIMEOUT_S });
    } finally {
      done = true;
    }
  })();
  const deadline = Date.now() + (SEND_TIMEOUT_S * passes + 5) * 1000;
  while (!done && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    samples.push([process.hrtime.bigint(), counter.read()]);
  }
  await replay;
  samples.push([process.hrtime.bigint(), counter.read()]);
  return { ...arrivalRate(samples, base), sender: spec.name };
}

/** Packets and rate between the sample before the first arrival and the last sample that moved. */
function arrivalRate(samples: readonly [bigint, number][], base: number): { sent: number; pps: number } {
  const firstMove = samples.findIndex(([, n]) => n !== base);
  if (firstMove < 0) return { sent: 0, pps: 0 };
  let lastMove = firstMove;
  for (let i = firstMove + 1; i < samples.length; i++) if (samples[i][1] !== samples[i - 1][1]) lastMove = i;
  const [t0, n0] = samples[firstMove - 1];
  const [t1, n1] = samples[lastMove];
  return { sent: n1 - base, pps: (n1 - n0) / (Number(t1 - t0) / 1e9) };
}
