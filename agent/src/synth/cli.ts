/** `flowmesh-agent gen-pcap`: writes a deterministic synthetic capture and its ground truth. */
import { InvalidArgumentError, type Command } from 'commander';
import { SYNTH_LINK_TYPES, type SynthLinkType } from './builder';
import { generateCapture } from './generate';

function integer(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

function linkType(value: string): SynthLinkType {
  if (!(value in SYNTH_LINK_TYPES)) throw new InvalidArgumentError(`expected one of ${Object.keys(SYNTH_LINK_TYPES).join(', ')}`);
  return value as SynthLinkType;
}

export function registerGenPcapCommand(program: Command): Command {
  return program
    .command('gen-pcap')
    .description('write a deterministic synthetic pcap plus its ground truth (JSON) computed by the generator')
    .requiredOption('--out <file>', 'pcap file to write')
    .option('--truth <file>', 'ground-truth JSON to write (default: <out without extension>.truth.json)')
    .option('--seed <n>', 'seed: same seed, same bytes', integer('--seed', 0), 1)
    .option('--flows <n>', 'approximate number of flows (default 200, or packets/250)', integer('--flows', 1))
    .option('--packets <n>', 'exact packet count, reached by scaling bulk TCP flows', integer('--packets', 1))
    .option('--link-type <type>', 'ethernet | raw | sll | sll2 | null', linkType, 'ethernet')
    .option('--snaplen <n>', 'captured bytes per packet (wire lengths kept)', integer('--snaplen', 64))
    .action(async (flags: { out: string; truth?: string; seed: number; flows?: number; packets?: number; linkType: SynthLinkType; snaplen?: number }) => {
      const started = Date.now();
      const terminal = Boolean(process.stderr.isTTY);
      const result = await generateCapture({
        onProgress: terminal ? (n) => process.stderr.write(`\r${n.toLocaleString('en')} packets written`) : undefined,
        out: flags.out,
        truth: flags.truth,
        seed: flags.seed,
        flows: flags.flows,
        packets: flags.packets,
        linkType: flags.linkType,
        snapLen: flags.snaplen,
      });
      if (terminal) process.stderr.write('\r\x1b[K');
      const s = result.summary;
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(
        `${JSON.stringify({ pcap: result.pcapPath, truth: result.truthPath, packets: s.packets, flows: s.flows, frame_bytes: s.frame_bytes, ip_bytes: s.ip_bytes, seconds })}\n`,
      );
    });
}
