/**
 * Capture through the real libpcap: generated pcaps of every link type read back with the
 * exact packet and byte counts of the generator, capinfos and tshark; snap-length
 * truncation; BPF filters; pcapng and nanosecond pcap (converted by editcap); unsupported
 * link types; handler errors; live capture on loopback and `any` (root only).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureFileError, openLiveCapture, readCaptureFile } from '../src/capture';
import { DecodedPacket, PacketDecoder, UnsupportedLinkTypeError } from '../src/decode/decoder';
import { SYNTH_LINK_TYPES, type SynthLinkType } from '../src/synth';
import { randomPort, sendUdp, waitFor } from './support/loopback';
import { makeCapture, type MadeCapture } from './support/synth';
import { privileged } from './support/privileged';

/** What libpcap reports (DLT numbers: LINKTYPE_RAW 101 becomes DLT_RAW 12); the JavaScript reader reports the file's LINKTYPE. */
const DLT: Record<SynthLinkType, number> = { ethernet: 1, raw: 12, sll: 113, sll2: 276, null: 0 };
const READERS = ['javascript', 'libpcap'] as const;

function capinfos(file: string): { packets: number; bytes: number } {
  const text = execFileSync('capinfos', ['-M', '-c', '-d', file], { encoding: 'utf8' });
  return {
    packets: Number(/Number of packets:\s+(\d+)/.exec(text)![1]),
    bytes: Number(/Data size:\s+(\d+) bytes/.exec(text)![1]),
  };
}

function tsharkIoStat(file: string): { frames: number; bytes: number } {
  const text = execFileSync('tshark', ['-r', file, '-q', '-z', 'io,stat,0'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const row = /\|\s*[\d.]+\s*<>\s*[\d.]+\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|/.exec(text);
  if (!row) throw new Error(`unexpected tshark io,stat output:\n${text}`);
  return { frames: Number(row[1]), bytes: Number(row[2]) };
}

interface ReadResult {
  summary: Awaited<ReturnType<typeof readCaptureFile>>;
  decoder: PacketDecoder;
  ipBytes: number;
  firstTsUs: number;
}

async function readAndDecode(file: string, filter = '', libpcap = false): Promise<ReadResult> {
  let decoder: PacketDecoder | undefined;
  const out = new DecodedPacket();
  let ipBytes = 0;
  let firstTsUs = -1;
  const summary = await readCaptureFile(file, { filter, libpcap, onOpen: (lt) => (decoder = new PacketDecoder(lt)) }, (buf, offset, capLen, wireLen, time) => {
    if (firstTsUs < 0) firstTsUs = time.us;
    if (decoder!.decode(buf, offset, capLen, wireLen, time, out) === 0) ipBytes += out.ipBytes;
  });
  return { summary, decoder: decoder!, ipBytes, firstTsUs };
}

describe('capture files', () => {
  const linkTypesAndReaders = (Object.keys(DLT) as SynthLinkType[]).flatMap((linkType) => READERS.map((reader) => [linkType, reader] as const));
  test.each(linkTypesAndReaders)('%s, %s reader: capinfos and tshark agree with the generator', async (linkType, reader) => {
    const cap = await makeCapture({ seed: 11, flows: 120, linkType });
    try {
      const { summary, decoder, ipBytes } = await readAndDecode(cap.pcapPath, '', reader === 'libpcap');
      const expectedLinkType = reader === 'libpcap' ? DLT[linkType] : SYNTH_LINK_TYPES[linkType];
      expect(summary).toEqual({
        packets: cap.summary.packets,
        bytes: cap.summary.frame_bytes,
        capturedBytes: cap.summary.captured_bytes,
        linkType: expectedLinkType,
        linkTypeName: expect.stringContaining(`(${expectedLinkType})`),
      });
      expect(decoder.stats.count('ok')).toBe(cap.summary.packets);
      expect(ipBytes).toBe(cap.summary.ip_bytes);
      expect(capinfos(cap.pcapPath)).toEqual({ packets: cap.summary.packets, bytes: cap.summary.frame_bytes });
      expect(tsharkIoStat(cap.pcapPath)).toEqual({ frames: cap.summary.packets, bytes: cap.summary.frame_bytes });
    } finally {
      cap.cleanup();
    }
  });

  test('snap length truncation: captured bytes shrink, IP bytes still come from the headers', async () => {
    const cap = await makeCapture({ seed: 5, flows: 80, snapLen: 96 });
    try {
      const { summary, decoder, ipBytes } = await readAndDecode(cap.pcapPath);
      expect(summary.capturedBytes).toBe(cap.summary.captured_bytes);
      expect(summary.capturedBytes).toBeLessThan(summary.bytes / 2);
      expect(summary.bytes).toBe(cap.summary.frame_bytes);
      expect(decoder.stats.count('ok')).toBe(cap.summary.packets);
      expect(ipBytes).toBe(cap.summary.ip_bytes);
    } finally {
      cap.cleanup();
    }
  });

  test('a BPF filter selects exactly the matching packets', async () => {
    const cap = await makeCapture({ seed: 8, flows: 150, linkType: 'raw' });
    try {
      const tcp4 = cap.truth.flows.filter((f) => f.protocol === 'tcp' && f.ip_version === 4);
      const expected = tcp4.reduce((n, f) => n + f.packets_tx + f.packets_rx, 0);
      const expectedBytes = tcp4.reduce((n, f) => n + f.bytes_tx + f.bytes_rx, 0);
      const { summary, ipBytes } = await readAndDecode(cap.pcapPath, 'ip and tcp');
      expect(expected).toBeGreaterThan(100);
      expect(summary.packets).toBe(expected);
      expect(ipBytes).toBe(expectedBytes);
    } finally {
      cap.cleanup();
    }
  });

  test('an invalid filter is a clear error', async () => {
    const cap = await makeCapture({ seed: 2, flows: 5 });
    try {
      await expect(readCaptureFile(cap.pcapPath, { filter: 'tcp port banana' }, () => {})).rejects.toThrow(
        new RegExp(`^${cap.pcapPath}: invalid capture filter 'tcp port banana': `),
      );
    } finally {
      cap.cleanup();
    }
  });

  test('pcapng and nanosecond pcap (editcap conversions) read the same packets and timestamps', async () => {
    let cap: MadeCapture | undefined;
    try {
      cap = await makeCapture({ seed: 4, flows: 60, linkType: 'sll2' });
      const original = await readAndDecode(cap.pcapPath);
      const nsec = path.join(cap.dir, 'converted.nsecpcap');
      execFileSync('editcap', ['-F', 'nsecpcap', cap.pcapPath, nsec]);
      const nsecPcapng = path.join(cap.dir, 'converted-nsec.pcapng'); // if_tsresol 9
      execFileSync('editcap', ['-F', 'pcapng', nsec, nsecPcapng]);
      const usecPcapng = path.join(cap.dir, 'converted.pcapng');
      execFileSync('editcap', ['-F', 'pcapng', cap.pcapPath, usecPcapng]);
      for (const converted of [usecPcapng, nsec, nsecPcapng]) {
        for (const libpcap of [false, true]) {
          const result = await readAndDecode(converted, '', libpcap);
          expect(result.summary).toEqual(original.summary); // SLL2 is 276 as LINKTYPE and as DLT
          expect(result.ipBytes).toBe(cap.summary.ip_bytes);
          expect(result.firstTsUs).toBe(original.firstTsUs);
          expect(result.firstTsUs).toBe(cap.summary.first_us);
        }
      }
    } finally {
      cap?.cleanup();
    }
  });

  test('an unsupported link type fails before any packet, naming it', async () => {
    const cap = await makeCapture({ seed: 1, flows: 3 });
    try {
      const file = path.join(cap.dir, 'radiotap.pcap');
      const bytes = fs.readFileSync(cap.pcapPath);
      bytes.writeUInt32LE(127, 20);
      fs.writeFileSync(file, bytes);
      let delivered = 0;
      const reading = readCaptureFile(file, {}, () => delivered++);
      await expect(reading).rejects.toThrow(UnsupportedLinkTypeError);
      await expect(readCaptureFile(file, {}, () => delivered++)).rejects.toThrow(
        `${file}: unsupported link type IEEE802_11_RADIOTAP (127)`,
      );
      bytes.writeUInt32LE(147, 20);
      fs.writeFileSync(file, bytes);
      await expect(readCaptureFile(file, {}, () => delivered++)).rejects.toThrow(`${file}: unsupported link type link type 147`);
      expect(delivered).toBe(0);
    } finally {
      cap.cleanup();
    }
  });

  test('a throwing handler stops the read with its error, after the packets it accepted', async () => {
    const cap = await makeCapture({ seed: 1, flows: 20 });
    try {
      let seen = 0;
      const reading = readCaptureFile(cap.pcapPath, {}, () => {
        if (++seen === 5) throw new Error('sink is full');
      });
      await expect(reading).rejects.toThrow(`${cap.pcapPath}: packet handler failed at packet 5: sink is full`);
      expect(seen).toBe(5);
    } finally {
      cap.cleanup();
    }
  });

  test('a missing file is a CaptureFileError naming it', async () => {
    const file = '/nonexistent/flowmesh/missing.pcap';
    const reading = readCaptureFile(file, {}, () => {});
    await expect(reading).rejects.toThrow(CaptureFileError);
    await expect(readCaptureFile(file, {}, () => {})).rejects.toThrow(/^\/nonexistent\/flowmesh\/missing\.pcap: cannot open capture file: no such file or directory \(ENOENT\)$/);
  });
});

const liveTest = privileged('live capture tests on lo/any').test;

describe('live capture', () => {
  liveTest.each(['lo', 'any'])('%s: UDP datagrams arrive decoded, counters readable, close releases', async (iface) => {
    const port = randomPort();
    const decoded: Array<[number, number, number, number]> = [];
    const out = new DecodedPacket();
    let decoder: PacketDecoder | undefined;
    const capture = openLiveCapture({ interface: iface, filter: `udp and dst port ${port}`, bufferTimeoutMs: 10 }, (buf, offset, capLen, wireLen, time) => {
      if (decoder!.decode(buf, offset, capLen, wireLen, time, out) === 0) decoded.push([out.protocol, out.dstPort, out.ipBytes, out.payloadLength]);
    });
    try {
      decoder = new PacketDecoder(capture.linkType);
      expect(capture.linkType).toBe(iface === 'any' ? 113 : 1);
      const before = Date.now() * 1000;
      await sendUdp(port, 10, Buffer.alloc(100, 7));
      await waitFor(() => decoded.length >= 10, 5000);
      expect(decoded).toEqual(Array(10).fill([17, port, 128, 100]));
      expect(out.tsUs).toBeGreaterThanOrEqual(before - 1_000_000);
      const stats = capture.stats();
      expect(stats.delivered).toBe(10);
      expect(stats.received).toBeGreaterThanOrEqual(10);
      expect(stats.kernelDrops).toBe(0);
      expect(stats.handlerErrors).toBe(0);
    } finally {
      capture.close();
      // an idle filtered handle is released at its next packet: give it one
      await sendUdp(port, 1, Buffer.alloc(1));
    }
    expect(capture.stats().delivered).toBe(10);
  });

  liveTest('a throwing handler is counted and reported, capture goes on', async () => {
    const port = randomPort();
    const errors: string[] = [];
    let calls = 0;
    const capture = openLiveCapture(
      { interface: 'lo', filter: `udp and dst port ${port}`, bufferTimeoutMs: 10, onError: (e) => errors.push(e.message) },
      () => {
        if (++calls % 2 === 0) throw new Error(`bad packet ${calls}`);
      },
    );
    try {
      await sendUdp(port, 6, Buffer.alloc(10));
      await waitFor(() => calls >= 6, 5000);
      expect(capture.stats()).toMatchObject({ delivered: 6, handlerErrors: 3 });
      expect(errors).toEqual(['bad packet 2', 'bad packet 4', 'bad packet 6']);
    } finally {
      capture.close();
      await sendUdp(port, 1, Buffer.alloc(1));
    }
  });

  liveTest('a missing interface is a clear error', () => {
    expect(() => openLiveCapture({ interface: 'flowmesh-nope0' }, () => {})).toThrow(/^cannot capture on interface 'flowmesh-nope0': /);
  });
});
