/**
 * Damaged capture files through the real libpcap: the error names the file, the byte
 * offset and what is wrong, and the packets before the damage were delivered. Offsets are
 * computed here by walking the intact file, independently of the walker under test.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureFileError, inspectCaptureFile, readCaptureFile } from '../src/capture';
import { DecodedPacket, PacketDecoder } from '../src/decode/decoder';
import { makeCapture, type MadeCapture } from './support/synth';

let cap: MadeCapture;
let original: Buffer;
let records: Array<{ offset: number; capLen: number }>;

beforeAll(async () => {
  cap = await makeCapture({ seed: 3, flows: 30 });
  original = fs.readFileSync(cap.pcapPath);
  records = [];
  for (let off = 24; off < original.length; off += 16 + original.readUInt32LE(off + 8)) {
    records.push({ offset: off, capLen: original.readUInt32LE(off + 8) });
  }
});

afterAll(() => cap.cleanup());

function write(name: string, bytes: Buffer | string): string {
  const file = path.join(cap.dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Reads the file; returns the error and how many packets were delivered first. */
async function readBroken(file: string): Promise<{ error: unknown; delivered: number }> {
  let delivered = 0;
  try {
    await readCaptureFile(file, {}, () => delivered++);
  } catch (error) {
    return { error, delivered };
  }
  throw new Error(`${file} was read without an error`);
}

function expectCaptureError(error: unknown, message: string, offset: number): void {
  expect(error).toBeInstanceOf(CaptureFileError);
  expect((error as Error).message).toBe(message);
  expect((error as CaptureFileError).offset).toBe(offset);
}

test("the intact capture passes the structure walk", async () => {
  expect(records.length).toBe(cap.summary.packets);
  expect(await inspectCaptureFile(cap.pcapPath)).toEqual({ format: 'pcap', packets: cap.summary.packets, linkTypes: [1], problem: null });
});

test('truncated in the middle of a packet record', async () => {
  const k = Math.floor(records.length / 2);
  const { offset, capLen } = records[k];
  const left = Math.floor(capLen / 2);
  const file = write('corrupt.pcap', original.subarray(0, offset + 16 + left));
  const { error, delivered } = await readBroken(file);
  expectCaptureError(error, `${file}: truncated packet record at byte offset ${offset} (needs ${capLen} bytes, ${left} left)`, offset);
  expect(delivered).toBe(k);
});

test('truncated inside a record header', async () => {
  const k = records.length - 3;
  const { offset } = records[k];
  const file = write('cut-header.pcap', original.subarray(0, offset + 5));
  const { error, delivered } = await readBroken(file);
  expectCaptureError(error, `${file}: truncated packet record header at byte offset ${offset} (needs 16 bytes, 5 left)`, offset);
  expect(delivered).toBe(k);
});

test('garbage right after the file header', async () => {
  const file = write('garbage.pcap', Buffer.concat([original.subarray(0, 24), Buffer.alloc(200, 0xff)]));
  const { error, delivered } = await readBroken(file);
  expectCaptureError(error, `${file}: packet record at byte offset 24 has captured length 4294967295, more than the maximum 262144`, 24);
  expect(delivered).toBe(0);
});

test('garbage appended after the last record: every real packet is delivered', async () => {
  const file = write('tail.pcap', Buffer.concat([original, Buffer.alloc(40, 0xee)]));
  const { error, delivered } = await readBroken(file);
  expectCaptureError(
    error,
    `${file}: packet record at byte offset ${original.length} has captured length ${0xeeeeeeee}, more than the maximum 262144`,
    original.length,
  );
  expect(delivered).toBe(records.length);
});

test('zero-length file', async () => {
  const file = write('empty.pcap', Buffer.alloc(0));
  const { error, delivered } = await readBroken(file);
  expectCaptureError(error, `${file}: empty file (0 bytes), expected a pcap or pcapng file header at byte offset 0`, 0);
  expect(delivered).toBe(0);
});

test('a text file is not a capture', async () => {
  const file = write('notes.txt', 'hello, these are my notes\n');
  const { error } = await readBroken(file);
  expectCaptureError(error, `${file}: not a pcap or pcapng file (magic 0x68656c6c) at byte offset 0`, 0);
});

test('a file shorter than the pcap header', async () => {
  const file = write('short.pcap', original.subarray(0, 10));
  const { error } = await readBroken(file);
  expectCaptureError(error, `${file}: truncated pcap file header at byte offset 0 (needs 24 bytes, 10 left)`, 0);
});

describe('pcapng', () => {
  let ng: Buffer;
  let blocks: Array<{ offset: number; type: number; length: number }>;
  let packetBlocks: Array<{ offset: number; type: number; length: number }>;

  beforeAll(() => {
    const file = path.join(cap.dir, 'intact.pcapng');
    execFileSync('editcap', ['-F', 'pcapng', cap.pcapPath, file]);
    ng = fs.readFileSync(file);
    blocks = [];
    for (let off = 0; off < ng.length; off += ng.readUInt32LE(off + 4)) blocks.push({ offset: off, type: ng.readUInt32LE(off), length: ng.readUInt32LE(off + 4) });
    packetBlocks = blocks.filter((b) => b.type === 6);
  });

  test("the intact pcapng passes the structure walk", async () => {
    expect(packetBlocks.length).toBe(cap.summary.packets);
    expect(await inspectCaptureFile(path.join(cap.dir, 'intact.pcapng'))).toEqual({ format: 'pcapng', packets: cap.summary.packets, linkTypes: [1], problem: null });
  });

  test('a block length that is not a multiple of 4', async () => {
    const k = 10;
    const block = packetBlocks[k];
    const bytes = Buffer.from(ng);
    bytes.writeUInt32LE(block.length + 2, block.offset + 4);
    const file = write('bad-length.pcapng', bytes);
    const { error, delivered } = await readBroken(file);
    expectCaptureError(error, `${file}: pcapng block at byte offset ${block.offset} has invalid total length ${block.length + 2}`, block.offset);
    expect(delivered).toBe(k);
  });

  test('a trailing length that differs from the leading one', async () => {
    const k = 20;
    const block = packetBlocks[k];
    const bytes = Buffer.from(ng);
    bytes.writeUInt32LE(block.length + 8, block.offset + block.length - 4);
    const file = write('bad-trailer.pcapng', bytes);
    const { error, delivered } = await readBroken(file);
    expectCaptureError(
      error,
      `${file}: pcapng block at byte offset ${block.offset} has trailing length ${block.length + 8}, different from its leading length ${block.length}`,
      block.offset,
    );
    expect(delivered).toBe(k);
  });

  test('interfaces with different link types: read with a decoder per link type (libpcap refuses the file)', async () => {
    const raw = await makeCapture({ seed: 4, flows: 5, linkType: 'raw' });
    try {
      const file = path.join(cap.dir, 'mixed.pcapng');
      execFileSync('mergecap', ['-F', 'pcapng', '-w', file, cap.pcapPath, raw.pcapPath]); // interleaved by time
      const decoders = new Map<number, PacketDecoder>();
      let decoder: PacketDecoder | undefined;
      const switches: number[] = [];
      const out = new DecodedPacket();
      let ipBytes = 0;
      const summary = await readCaptureFile(file, { onOpen: (lt) => { switches.push(lt); decoder = decoders.get(lt) ?? decoders.set(lt, new PacketDecoder(lt)).get(lt); } },
        (buf, off, capLen, wireLen, time) => {
          if (decoder!.decode(buf, off, capLen, wireLen, time, out) === 0) ipBytes += out.ipBytes;
        });
      expect(summary.packets).toBe(cap.summary.packets + raw.summary.packets);
      expect(ipBytes).toBe(cap.summary.ip_bytes + raw.summary.ip_bytes);
      expect(decoders.get(1)!.stats.count('ok')).toBe(cap.summary.packets);
      expect(decoders.get(101)!.stats.count('ok')).toBe(raw.summary.packets);
      expect(switches.length).toBeGreaterThan(2); // the two captures' packets interleave

      await expect(readCaptureFile(file, { libpcap: true }, () => {})).rejects.toThrow(
        `${file}: libpcap reads one link type per file, and this pcapng file mixes link types 1, 101: ` +
          "import it without a filter (Flowmesh's own reader decodes each interface with its link type)",
      );
    } finally {
      raw.cleanup();
    }
  });

  test('truncated in the middle of a block', async () => {
    const k = packetBlocks.length - 2;
    const block = packetBlocks[k];
    const file = write('cut.pcapng', ng.subarray(0, block.offset + 40));
    const { error, delivered } = await readBroken(file);
    expectCaptureError(error, `${file}: truncated pcapng block at byte offset ${block.offset} (needs ${block.length} bytes, 40 left)`, block.offset);
    expect(delivered).toBe(k);
  });
});
