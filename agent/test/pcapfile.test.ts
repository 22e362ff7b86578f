/**
 * The JavaScript capture-file reader on hand-built pcapng files (the forms editcap does not
 * write: big-endian sections, binary and decimal timestamp resolutions, timestamp offsets,
 * several sections, simple and obsolete packet blocks, blocks larger than a read chunk), and
 * its exact timestamp arithmetic against BigInt.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CaptureFileError, readCaptureFile, unitsToMicros } from '../src/capture';

const TWO_POW_32 = 2n ** 32n;

/** xorshift32: a reproducible sequence of 32-bit words. */
function words(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

test('unitsToMicros divides 64-bit unit counts exactly (checked against BigInt)', () => {
  const next = words(99);
  for (const unitsPerSecond of [1, 10, 1000, 1_000_000, 1_000_000_000, 2 ** 10, 2 ** 20, 2 ** 31, 2 ** 32]) {
    for (let i = 0; i < 2000; i++) {
      // keep the result within 2^53 µs, as any real timestamp is
      const units = ((BigInt(next()) << 32n) | BigInt(next())) % (BigInt(unitsPerSecond) * 9_000_000_000n);
      const high = Number(units / TWO_POW_32);
      const low = Number(units % TWO_POW_32);
      const expected = (units / BigInt(unitsPerSecond)) * 1_000_000n + ((units % BigInt(unitsPerSecond)) * 1_000_000n) / BigInt(unitsPerSecond);
      const got = unitsToMicros(high, low, unitsPerSecond);
      if (BigInt(got) !== expected) expect({ units: units.toString(), unitsPerSecond, got }).toEqual({ expected: expected.toString() });
    }
  }
});

/** Builds pcapng blocks in one byte order. */
class Pcapng {
  private readonly parts: Buffer[] = [];
  constructor(private le = true) {}

  private u32(value: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.le) b.writeUInt32LE(value >>> 0);
    else b.writeUInt32BE(value >>> 0);
    return b;
  }
  private u16(value: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.le) b.writeUInt16LE(value);
    else b.writeUInt16BE(value);
    return b;
  }
  private block(type: number, body: Buffer): this {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const length = 12 + padded.length;
    this.parts.push(this.u32(type), this.u32(length), padded, this.u32(length));
    return this;
  }
  private option(code: number, value: Buffer): Buffer {
    return Buffer.concat([this.u16(code), this.u16(value.length), value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
  }

  section(le: boolean): this {
    this.le = le;
    return this.block(0x0a0d0d0a, Buffer.concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), Buffer.alloc(8, 0xff)]));
  }
  iface(linkType: number, snapLen: number, tsresol?: number, tsoffsetS?: number): this {
    const options: Buffer[] = [];
    if (tsresol !== undefined) options.push(this.option(9, Buffer.from([tsresol])));
    if (tsoffsetS !== undefined) {
      const b = Buffer.alloc(8);
      if (this.le) b.writeBigInt64LE(BigInt(tsoffsetS));
      else b.writeBigInt64BE(BigInt(tsoffsetS));
      options.push(this.option(14, b));
    }
    if (options.length) options.push(Buffer.alloc(4)); // opt_endofopt
    return this.block(1, Buffer.concat([this.u16(linkType), this.u16(0), this.u32(snapLen), ...options]));
  }
  epb(iface: number, units: bigint, data: Buffer, wireLen = data.length): this {
    return this.block(6, Buffer.concat([this.u32(iface), this.u32(Number(units >> 32n)), this.u32(Number(units & 0xffffffffn)), this.u32(data.length), this.u32(wireLen), data]));
  }
  spb(data: Buffer): this {
    return this.block(3, Buffer.concat([this.u32(data.length), data]));
  }
  pb(iface: number, units: bigint, data: Buffer): this {
    return this.block(2, Buffer.concat([this.u16(iface), this.u16(0), this.u32(Number(units >> 32n)), this.u32(Number(units & 0xffffffffn)), this.u32(data.length), this.u32(data.length), data]));
  }
  other(type: number, size: number): this {
    return this.block(type, Buffer.alloc(size, 0x5a));
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-pcapfile-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Delivered {
  tsUs: number;
  capLen: number;
  wireLen: number;
  firstByte: number;
}

async function read(bytes: Buffer, name: string): Promise<{ packets: Delivered[]; linkType: number }> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  const packets: Delivered[] = [];
  let linkType = -1;
  await readCaptureFile(file, { onOpen: (lt) => (linkType = lt) }, (buf, offset, capLen, wireLen, time) => {
    packets.push({ tsUs: time.us, capLen, wireLen, firstByte: buf[offset] });
  });
  return { packets, linkType };
}

/** A raw IPv4 header's first byte then filler: enough to tell packets apart. */
const data = (marker: number, length = 40) => Buffer.concat([Buffer.from([0x45, marker]), Buffer.alloc(length - 2, marker)]);
const T = 1_767_225_600n; // 2026-01-01 in seconds

test('big- and little-endian sections, ns / 2^-20 resolutions, tsoffset, SPB and PB', async () => {
  const ns = T * 1_000_000_000n + 123_456_789n;
  const binary = (T - 3600n) * 2n ** 20n + 2n ** 19n; // half a second, relative to a +3600 s offset
  const file = new Pcapng()
    .section(false)
    .iface(101, 0, 9)
    .iface(101, 0, 0x80 | 20, 3600)
    .epb(0, ns, data(1))
    .epb(1, binary, data(2), 1500)
    .other(0x0bad, 64) // an unknown block is skipped
    .section(true) // a new section: interfaces start again, little-endian now
    .iface(101, 24)
    .spb(data(3)) // cut to the 24-byte snap length, no timestamp
    .pb(0, T * 1_000_000n + 7n, data(4))
    .bytes();
  const { packets, linkType } = await read(file, 'sections.pcapng');
  expect(linkType).toBe(101);
  expect(packets).toEqual([
    { tsUs: Number(T) * 1e6 + 123_456, capLen: 40, wireLen: 40, firstByte: 0x45 },
    { tsUs: Number(T) * 1e6 + 500_000, capLen: 40, wireLen: 1500, firstByte: 0x45 },
    { tsUs: 0, capLen: 24, wireLen: 40, firstByte: 0x45 },
    { tsUs: Number(T) * 1e6 + 7, capLen: 40, wireLen: 40, firstByte: 0x45 },
  ]);
});

test('a block larger than the read chunk, between packets, is read past', async () => {
  const builder = new Pcapng().section(true).iface(101, 0);
  for (let i = 0; i < 1000; i++) builder.epb(0, T * 1_000_000n + BigInt(i), data(i & 0xff));
  builder.other(0x0bad, 9 * 1024 * 1024);
  for (let i = 1000; i < 2000; i++) builder.epb(0, T * 1_000_000n + BigInt(i), data(i & 0xff));
  const { packets } = await read(builder.bytes(), 'big-block.pcapng');
  expect(packets.length).toBe(2000);
  expect(packets.map((p) => p.tsUs - Number(T) * 1e6)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
});

test('a packet block before any interface is refused with its offset', async () => {
  const bytes = new Pcapng().section(true).epb(0, 0n, data(1)).bytes();
  const file = path.join(dir, 'no-iface.pcapng');
  fs.writeFileSync(file, bytes);
  const reading = readCaptureFile(file, {}, () => {});
  await expect(reading).rejects.toThrow(CaptureFileError);
  await expect(readCaptureFile(file, {}, () => {})).rejects.toThrow(
    `${file}: enhanced packet block at byte offset 28 refers to interface 0, but only 0 are defined`,
  );
});
