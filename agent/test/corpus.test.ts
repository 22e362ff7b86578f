/**
 * Every file of the shared tcpdump capture corpus (hundreds of real and deliberately
 * malformed captures) through readCaptureFile + PacketDecoder: no crash, no hang, and each
 * file ends either with every packet counted under a decode reason, or with a clear
 * unsupported-link-type or corrupt-file error. Prints a one-line summary.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureFileError, readCaptureFile } from '../src/capture';
import { DecodeStats, DecodedPacket, PacketDecoder, UnsupportedLinkTypeError } from '../src/decode/decoder';

const CORPUS = path.resolve(__dirname, '../../../shared/corpus/tcpdump');
const PER_FILE_MS = 5000;
const haveCorpus = fs.existsSync(CORPUS);
if (!haveCorpus) console.warn(`corpus.test.ts SKIPPED: no capture corpus at ${CORPUS}`);

(haveCorpus ? test : test.skip)('every corpus file is decoded, or refused with a clear error', async () => {
  const files = fs.readdirSync(CORPUS).sort();
  const total = new DecodeStats();
  const out = new DecodedPacket();
  const unsupported = new Map<number, number>();
  const corrupt: string[] = [];
  const problems: string[] = [];
  let packets = 0;
  let readable = 0;
  const started = Date.now();

  for (const name of files) {
    const file = path.join(CORPUS, name);
    let decoder: PacketDecoder | undefined;
    let delivered = 0;
    const fileStarted = Date.now();
    try {
      await readCaptureFile(file, { onOpen: (linkType) => (decoder = new PacketDecoder(linkType)) }, (buf, offset, capLen, wireLen, time) => {
        delivered++;
        decoder!.decode(buf, offset, capLen, wireLen, time, out);
      });
      readable++;
    } catch (err) {
      if (err instanceof UnsupportedLinkTypeError) {
        unsupported.set(err.linkType, (unsupported.get(err.linkType) ?? 0) + 1);
        if (delivered !== 0) problems.push(`${name}: ${delivered} packets delivered before the unsupported-link-type error`);
        if (!err.message.includes(String(err.linkType)) || !err.message.startsWith(file)) problems.push(`${name}: unclear error '${err.message}'`);
      } else if (err instanceof CaptureFileError) {
        corrupt.push(name);
        if (!/^.+: .+ at byte offset \d+/.test(err.message)) problems.push(`${name}: error without an offset '${err.message}'`);
      } else {
        problems.push(`${name}: unexpected ${String(err)}`);
      }
    }
    if (decoder) {
      if (decoder.stats.total() !== delivered) problems.push(`${name}: ${delivered} packets delivered, ${decoder.stats.total()} counted`);
      total.add(decoder.stats);
    }
    packets += delivered;
    const ms = Date.now() - fileStarted;
    if (ms > PER_FILE_MS) problems.push(`${name}: took ${ms} ms`);
  }

  const reasons = Object.entries(total.byReason())
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  const linkTypes = [...unsupported.entries()].sort((a, b) => a[0] - b[0]).map(([lt, n]) => `${lt}x${n}`).join(' ');
  console.log(
    `corpus: ${files.length} files (${readable} read, ${[...unsupported.values()].reduce((a, b) => a + b, 0)} unsupported link type, ` +
      `${corrupt.length} corrupt: ${corrupt.join(' ')}), ${packets} packets, decoded ${total.count('ok')}; by reason: ${reasons}; ` +
      `unsupported link types: ${linkTypes}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  expect(problems).toEqual([]);
  expect(total.total()).toBe(packets);
  expect(readable).toBeGreaterThan(files.length / 2);
  expect(total.count('ok')).toBeGreaterThan(packets / 3);
});

/** Everything a reader delivers from one file, and how it ended. */
async function readAll(file: string, libpcap: boolean): Promise<{ packets: string[]; ending: string }> {
  const packets: string[] = [];
  try {
    await readCaptureFile(file, { libpcap }, (buf, offset, capLen, wireLen, time) => {
      let hash = 0x811c9dc5; // FNV-1a of the captured bytes
      for (let i = offset; i < offset + capLen; i++) hash = Math.imul(hash ^ buf[i], 0x01000193);
      packets.push(`${time.us} ${capLen} ${wireLen} ${hash >>> 0}`);
    });
    return { packets, ending: 'read' };
  } catch (err) {
    if (err instanceof CaptureFileError) return { packets, ending: `corrupt at ${err.offset}` };
    if (err instanceof UnsupportedLinkTypeError) return { packets, ending: 'unsupported link type' };
    return { packets, ending: `unexpected ${String(err)}` };
  }
}

/** Files where libpcap is wrong and the JavaScript reader is not: timestamps are not compared there. */
const LIBPCAP_TIMESTAMP_ARTIFACTS: Record<string, string> = {
  'timestamp_invalid_nano.pcap': 'a nanosecond fraction >= 2^31 overflows libpcap\'s signed microseconds (we keep the fraction)',
};

(haveCorpus ? test : test.skip)('the JavaScript file reader delivers exactly what libpcap delivers, for every corpus file', async () => {
  const differences: string[] = [];
  let packets = 0;
  for (const name of fs.readdirSync(CORPUS).sort()) {
    const file = path.join(CORPUS, name);
    const ours = await readAll(file, false);
    const reference = await readAll(file, true);
    packets += reference.packets.length;
    if (ours.ending !== reference.ending) differences.push(`${name}: ends '${ours.ending}', libpcap '${reference.ending}'`);
    const count = Math.max(ours.packets.length, reference.packets.length);
    const withoutTimestamp = (packet: string | undefined) => (name in LIBPCAP_TIMESTAMP_ARTIFACTS ? packet?.replace(/^\d+ /, '') : packet);
    for (let i = 0; i < count; i++) {
      if (withoutTimestamp(ours.packets[i]) !== withoutTimestamp(reference.packets[i])) {
        differences.push(`${name} packet ${i}: '${ours.packets[i]}', libpcap '${reference.packets[i]}'`);
        break;
      }
    }
  }
  expect(differences).toEqual([]);
  expect(packets).toBeGreaterThan(5000);
});
