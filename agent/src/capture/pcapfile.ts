/**
 * Reads pcap and pcapng files in JavaScript, a few MiB at a time: each packet is handed to
 * the handler as (chunk, offset) in place, with no copy, no allocation and no native call
 * per packet. The next chunk is read (on libuv's thread pool) while the current one is
 * scanned, and the event loop runs between chunks (store writes overlap the read, and a
 * long import can be interrupted).
 *
 * Why not libpcap for files: offline reading needs nothing of libpcap but the file format,
 * which is small and fully specified, and libpcap copies every packet twice on the way (its
 * stdio buffer, then the capture addon's batch) where this reader copies each byte once, from
 * the page cache into the chunk (the bench: 1.2x the packets per CPU-second of libpcap through
 * the addon on full frames, 1.6x at snap length 128). libpcap still reads files when a BPF
 * filter is given (offline.ts).
 *
 * Formats: pcap with microsecond or nanosecond timestamps in either byte order; pcapng
 * sections in either byte order with Enhanced, Simple and (obsolete) Packet blocks,
 * per-interface timestamp resolution (if_tsresol) and offset (if_tsoffset); other blocks are
 * skipped. Unlike libpcap, a pcapng file may mix link types (a capture of eth0 and wg0 taken
 * together): the handler is told whenever the link type of the packets that follow changes.
 * Timestamps become epoch microseconds, truncated like libpcap's. The rules libpcap
 * enforces are enforced here too (captured length at most 262144, pcapng block lengths and
 * trailers, interface references), packets are cut to the file's
 * snap length as libpcap cuts them, and the first broken structure
 * ends the read with a CaptureFileError naming its byte offset; packets before it were
 * delivered.
 */
import * as fs from 'node:fs/promises';
import { CaptureFileError } from './errors';
import { PacketTime } from '../decode/packet';
import type { PacketHandler } from './types';

/** libpcap's largest accepted captured length (MAXIMUM_SNAPLEN). */
export const MAX_CAPTURED_LENGTH = 262144;
/** libpcap's largest pcapng block (MAX_BLOCKSIZE_FOR_MAX_SNAPLEN rounded; 16 MiB). */
export const MAX_PCAPNG_BLOCK = 16 * 1024 * 1024;

/**
 * Bytes read at a time (two chunks: one scanned, one being read). 1 MiB rather than 4: with
 * full-size frames the chunks and a 200 k-flow table then share the last-level cache better
 * (the bench's full-frame corpus, decode + flow table: 10 % less CPU; snap length 128: the same
 * within noise).
 */
const CHUNK_BYTES = 1 << 20;
/** Room in front of each chunk for the unfinished record of the previous one: any pcap record fits. */
const INITIAL_RESERVE = 256 * 1024 + 64;
const PCAP_HEADER_BYTES = 24;
const PCAP_RECORD_HEADER_BYTES = 16;
const PCAPNG_BLOCK_HEADER_BYTES = 12;

/** pcap magics as read big-endian: microsecond or nanosecond timestamps, written big- or little-endian. */
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_MAGIC_US_SWAPPED = 0xd4c3b2a1;
const PCAP_MAGIC_NS_SWAPPED = 0x4d3cb2a1;
const PCAP_MAGICS = [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_US_SWAPPED, PCAP_MAGIC_NS_SWAPPED];
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_PB = 0x00000002;
const PCAPNG_SPB = 0x00000003;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const IDB_OPTION_TSRESOL = 9;
const IDB_OPTION_TSOFFSET = 14;

const TWO_POW_16 = 65536;
const TWO_POW_32 = 4294967296;
const MICROS_PER_SECOND = 1_000_000;

export interface CaptureFileProblem {
  offset: number;
  /** Without the file name, e.g. "truncated packet record at byte offset 40 (needs 60 bytes, 7 left)". */
  detail: string;
}

export interface CaptureFileCounts {
  format: 'pcap' | 'pcapng';
  packets: number;
  /** Sum of on-the-wire lengths (what tshark/capinfos call bytes). */
  bytes: number;
  /** Sum of captured lengths. */
  capturedBytes: number;
  /** The file's link type (LINKTYPE_* number). */
  linkType: number;
}

/** A structure the reader cannot go past: thrown inside the scanners, turned into a CaptureFileError with the path. */
class FormatProblem extends Error {
  constructor(readonly problem: CaptureFileProblem) {
    super(problem.detail);
  }
}

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

function fail(offset: number, detail: string): never {
  throw new FormatProblem({ offset, detail });
}

function truncated(what: string, offset: number, needs: number, left: number): CaptureFileProblem {
  return { offset, detail: `truncated ${what} at byte offset ${offset} (needs ${needs} bytes, ${left} left)` };
}

/**
 * Units since the epoch (high and low 32-bit words) divided into epoch microseconds, exactly
 * and without BigInt: `unitsPerSecond` up to 2^32 is divided in 16-bit steps so no
 * intermediate exceeds 2^53; finer resolutions (beyond 10^-9 s) are divided in floating point.
 */
export function unitsToMicros(high: number, low: number, unitsPerSecond: number): number {
  if (unitsPerSecond === MICROS_PER_SECOND) return high * TWO_POW_32 + low;
  if (unitsPerSecond > TWO_POW_32) return Math.floor(((high * TWO_POW_32 + low) / unitsPerSecond) * MICROS_PER_SECOND);
  const highQuotient = Math.floor(high / unitsPerSecond);
  const middle = (high - highQuotient * unitsPerSecond) * TWO_POW_16 + (low >>> 16);
  const middleQuotient = Math.floor(middle / unitsPerSecond);
  const bottom = (middle - middleQuotient * unitsPerSecond) * TWO_POW_16 + (low & 0xffff);
  const bottomQuotient = Math.floor(bottom / unitsPerSecond);
  const seconds = highQuotient * TWO_POW_32 + middleQuotient * TWO_POW_16 + bottomQuotient;
  const remainder = bottom - bottomQuotient * unitsPerSecond;
  return seconds * MICROS_PER_SECOND + Math.floor((remainder * MICROS_PER_SECOND) / unitsPerSecond);
}

/** A read buffer: `reserve` bytes for the previous chunk's unfinished record, then a chunk of the file. */
class Chunk {
  readonly buf: Buffer;
  readonly view: DataView;
  constructor(readonly reserve: number) {
    this.buf = Buffer.alloc(reserve + CHUNK_BYTES);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }
}

/** Parses complete records in a chunk; shared by the pcap and pcapng scanners. */
interface Scanner {
  readonly counts: CaptureFileCounts;
  /** Delivers every complete record in buf[from, end); returns where the first incomplete one starts. */
  scan(buf: Buffer, view: DataView, from: number, end: number, fileOffset: number): number;
  /** Bytes the record at the last returned index needs in all (for the truncation message). */
  readonly needed: number;
  /** The problem of a record cut short by the end of the file. */
  truncation(offset: number, left: number): CaptureFileProblem;
}

class PcapScanner implements Scanner {
  readonly counts: CaptureFileCounts;
  private readonly time = new PacketTime();
  needed = PCAP_RECORD_HEADER_BYTES;

  constructor(
    linkType: number,
    private readonly littleEndian: boolean,
    private readonly nanoseconds: boolean,
    /** Captured bytes beyond the file's snap length are skipped, as libpcap does. */
    private readonly snapshot: number,
    private readonly onPacket: PacketHandler,
  ) {
    this.counts = { format: 'pcap', packets: 0, bytes: 0, capturedBytes: 0, linkType };
  }

  scan(buf: Buffer, view: DataView, from: number, end: number, fileOffset: number): number {
    const le = this.littleEndian;
    const counts = this.counts;
    let i = from;
    while (i + PCAP_RECORD_HEADER_BYTES <= end) {
      const capLen = view.getUint32(i + 8, le);
      if (capLen > MAX_CAPTURED_LENGTH) {
        const at = fileOffset + i;
        fail(at, `packet record at byte offset ${at} has captured length ${capLen}, more than the maximum ${MAX_CAPTURED_LENGTH}`);
      }
      const next = i + PCAP_RECORD_HEADER_BYTES + capLen;
      if (next > end) {
        this.needed = PCAP_RECORD_HEADER_BYTES + capLen;
        return i;
      }
      const fraction = view.getUint32(i + 4, le);
      this.time.us = view.getUint32(i, le) * MICROS_PER_SECOND + (this.nanoseconds ? Math.floor(fraction / 1000) : fraction);
      const wireLen = view.getUint32(i + 12, le);
      const delivered = capLen < this.snapshot ? capLen : this.snapshot;
      counts.packets++;
      counts.bytes += wireLen;
      counts.capturedBytes += delivered;
      this.onPacket(buf, i + PCAP_RECORD_HEADER_BYTES, delivered, wireLen, this.time);
      i = next;
    }
    this.needed = PCAP_RECORD_HEADER_BYTES;
    return i;
  }

  truncation(offset: number, left: number): CaptureFileProblem {
    if (left < PCAP_RECORD_HEADER_BYTES) return truncated('packet record header', offset, PCAP_RECORD_HEADER_BYTES, left);
    return truncated('packet record', offset, this.needed - PCAP_RECORD_HEADER_BYTES, left - PCAP_RECORD_HEADER_BYTES);
  }
}

/** Per-interface facts of the current pcapng section, indexed by interface id. */
interface PcapngInterfaces {
  count: number;
  unitsPerSecond: number[];
  offsetUs: number[];
  snapLen: number[];
  linkType: number[];
}

class PcapngScanner implements Scanner {
  readonly counts: CaptureFileCounts = { format: 'pcapng', packets: 0, bytes: 0, capturedBytes: 0, linkType: -1 };
  needed = PCAPNG_BLOCK_HEADER_BYTES;
  private readonly time = new PacketTime();
  private littleEndian = true;
  /** The first interface's snap length: libpcap cuts every packet of the file to it. */
  private snapshot = MAX_CAPTURED_LENGTH;
  private readonly interfaces: PcapngInterfaces = { count: 0, unitsPerSecond: [], offsetUs: [], snapLen: [], linkType: [] };
  /** Link type of the packets handed over last (what the handler was last told). */
  private currentLinkType = -1;

  constructor(
    private readonly onPacket: PacketHandler,
    /**
     * Called at an interface with a link type other than the current one, and before a packet
     * whose interface's link type is not the current one; throws to refuse the link type.
     */
    private readonly onLinkType: (linkType: number) => void,
  ) {}

  scan(buf: Buffer, view: DataView, from: number, end: number, fileOffset: number): number {
    let i = from;
    while (i + PCAPNG_BLOCK_HEADER_BYTES <= end) {
      const at = fileOffset + i;
      const type = this.blockType(view, i, at);
      const length = view.getUint32(i + 4, this.littleEndian);
      const minimum = type === PCAPNG_SHB ? 28 : PCAPNG_BLOCK_HEADER_BYTES;
      if (length < minimum || length % 4 !== 0) fail(at, `pcapng block at byte offset ${at} has invalid total length ${length}`);
      if (length > MAX_PCAPNG_BLOCK) {
        fail(at, `pcapng block at byte offset ${at} has total length ${length}, more than the maximum ${MAX_PCAPNG_BLOCK}`);
      }
      if (i + length > end) {
        this.needed = length;
        return i;
      }
      const trailing = view.getUint32(i + length - 4, this.littleEndian);
      if (trailing !== length) {
        fail(at, `pcapng block at byte offset ${at} has trailing length ${trailing}, different from its leading length ${length}`);
      }
      if (type === PCAPNG_EPB || type === PCAPNG_SPB || type === PCAPNG_PB) this.packet(buf, view, i, length, type, at);
      else if (type === PCAPNG_IDB) this.interfaceDescription(view, i, length, at);
      i += length;
    }
    this.needed = PCAPNG_BLOCK_HEADER_BYTES;
    return i;
  }

  truncation(offset: number, left: number): CaptureFileProblem {
    return truncated('pcapng block', offset, this.needed, left);
  }

  /** The block type; a section header also sets the byte order of everything up to the next one. */
  private blockType(view: DataView, i: number, at: number): number {
    if (view.getUint32(i, false) === PCAPNG_SHB) {
      if (view.getUint32(i + 8, true) === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = true;
      else if (view.getUint32(i + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) this.littleEndian = false;
      else fail(at, `section header block at byte offset ${at} has bad byte-order magic ${hex32(view.getUint32(i + 8, false))}`);
      this.interfaces.count = 0;
      return PCAPNG_SHB;
    }
    if (at === 0) fail(0, 'first pcapng block at byte offset 0 is not a section header block');
    return view.getUint32(i, this.littleEndian);
  }

  private interfaceDescription(view: DataView, i: number, length: number, at: number): void {
    if (length < 20) fail(at, `interface description block at byte offset ${at} is too short (${length} bytes)`);
    const le = this.littleEndian;
    const linkType = view.getUint16(i + 8, le);
    if (this.counts.linkType < 0) {
      this.counts.linkType = linkType;
      this.snapshot = snapshotLength(view.getUint32(i + 12, le));
    }
    this.switchLinkType(linkType);
    let unitsPerSecond = MICROS_PER_SECOND;
    let offsetUs = 0;
    // options: code, length, value padded to 4 bytes; a malformed list ends the walk (libpcap ignores what follows too)
    const optionsEnd = i + length - 4;
    for (let p = i + 16; p + 4 <= optionsEnd; ) {
      const code = view.getUint16(p, le);
      const size = view.getUint16(p + 2, le);
      if (code === 0 || p + 4 + size > optionsEnd) break;
      if (code === IDB_OPTION_TSRESOL && size >= 1) unitsPerSecond = resolutionUnits(view.getUint8(p + 4), at);
      else if (code === IDB_OPTION_TSOFFSET && size >= 8) {
        const high = view.getInt32(p + 4 + (le ? 4 : 0), le);
        const low = view.getUint32(p + 4 + (le ? 0 : 4), le);
        offsetUs = (high * TWO_POW_32 + low) * MICROS_PER_SECOND;
      }
      p += 4 + ((size + 3) & ~3);
    }
    const ifaces = this.interfaces;
    const index = ifaces.count++;
    ifaces.unitsPerSecond[index] = unitsPerSecond;
    ifaces.offsetUs[index] = offsetUs;
    ifaces.snapLen[index] = view.getUint32(i + 12, le);
    ifaces.linkType[index] = linkType;
  }

  private switchLinkType(linkType: number): void {
    if (linkType === this.currentLinkType) return;
    this.onLinkType(linkType); // first, so a refused type is never recorded as current
    this.currentLinkType = linkType;
  }

  private packet(buf: Buffer, view: DataView, i: number, length: number, type: number, at: number): void {
    const le = this.littleEndian;
    const name = type === PCAPNG_EPB ? 'enhanced packet block' : type === PCAPNG_SPB ? 'simple packet block' : 'packet block';
    const headerLen = type === PCAPNG_SPB ? 16 : 32;
    if (length < headerLen) fail(at, `${name} at byte offset ${at} is too short (${length} bytes)`);
    const iface = type === PCAPNG_EPB ? view.getUint32(i + 8, le) : type === PCAPNG_PB ? view.getUint16(i + 8, le) : 0;
    const ifaces = this.interfaces;
    if (iface >= ifaces.count) fail(at, `${name} at byte offset ${at} refers to interface ${iface}, but only ${ifaces.count} are defined`);
    let capLen: number;
    let wireLen: number;
    let data: number;
    if (type === PCAPNG_SPB) {
      // no timestamp (libpcap reports 0) and no captured length: the data, cut to the snap length
      wireLen = view.getUint32(i + 8, le);
      capLen = Math.min(wireLen, length - headerLen, snapshotLength(ifaces.snapLen[0]));
      this.time.us = 0;
      data = i + 12;
    } else {
      capLen = view.getUint32(i + 20, le);
      if (capLen > MAX_CAPTURED_LENGTH || capLen > length - headerLen) {
        fail(at, `${name} at byte offset ${at} has captured length ${capLen}, larger than the block (${length} bytes)`);
      }
      wireLen = view.getUint32(i + 24, le);
      const high = view.getUint32(i + 12, le);
      const low = view.getUint32(i + 16, le);
      const unitsPerSecond = ifaces.unitsPerSecond[iface];
      // microseconds inline: a call returning a double would box it on the heap per packet
      this.time.us = (unitsPerSecond === MICROS_PER_SECOND ? high * TWO_POW_32 + low : unitsToMicros(high, low, unitsPerSecond)) + ifaces.offsetUs[iface];
      data = i + 28;
    }
    if (capLen > this.snapshot) capLen = this.snapshot;
    if (ifaces.linkType[iface] !== this.currentLinkType) this.switchLinkType(ifaces.linkType[iface]);
    const counts = this.counts;
    counts.packets++;
    counts.bytes += wireLen;
    counts.capturedBytes += capLen;
    this.onPacket(buf, data, capLen, wireLen, this.time);
  }
}

/** libpcap's snapshot length for a file's snap length field: 0 and oversized values mean the maximum. */
function snapshotLength(snapLen: number): number {
  return snapLen === 0 || snapLen > MAX_CAPTURED_LENGTH ? MAX_CAPTURED_LENGTH : snapLen;
}

/** if_tsresol: units per second, 10^n (high bit clear) or 2^n (high bit set). */
function resolutionUnits(value: number, at: number): number {
  const exponent = value & 0x7f;
  const units = value & 0x80 ? 2 ** exponent : 10 ** exponent;
  if (!Number.isFinite(units) || units < 1) fail(at, `interface description block at byte offset ${at} has an unusable timestamp resolution ${value}`);
  return units;
}

/** Reads the file header and picks the scanner for its format. */
function scannerFor(
  header: Buffer,
  size: number,
  onPacket: PacketHandler,
  onLinkType: (linkType: number) => void,
): { scanner: Scanner; dataStart: number } {
  if (size === 0) fail(0, 'empty file (0 bytes), expected a pcap or pcapng file header at byte offset 0');
  if (size < 4) throw new FormatProblem(truncated('file header', 0, 4, size));
  const magic = header.readUInt32BE(0);
  if (magic === PCAPNG_SHB) return { scanner: new PcapngScanner(onPacket, onLinkType), dataStart: 0 };
  if (!PCAP_MAGICS.includes(magic)) fail(0, `not a pcap or pcapng file (magic ${hex32(magic)}) at byte offset 0`);
  const littleEndian = magic === PCAP_MAGIC_US_SWAPPED || magic === PCAP_MAGIC_NS_SWAPPED;
  if (size < PCAP_HEADER_BYTES) throw new FormatProblem(truncated('pcap file header', 0, PCAP_HEADER_BYTES, size));
  const major = littleEndian ? header.readUInt16LE(4) : header.readUInt16BE(4);
  const minor = littleEndian ? header.readUInt16LE(6) : header.readUInt16BE(6);
  if (major !== 2) fail(4, `unsupported pcap format version ${major}.${minor} at byte offset 4 (expected 2.x)`);
  // the upper bits of the link type field carry FCS information, not the type
  const linkType = (littleEndian ? header.readUInt32LE(20) : header.readUInt32BE(20)) & 0x03ffffff;
  onLinkType(linkType);
  const nanoseconds = magic === PCAP_MAGIC_NS || magic === PCAP_MAGIC_NS_SWAPPED;
  const snapshot = snapshotLength(littleEndian ? header.readUInt32LE(16) : header.readUInt32BE(16));
  return { scanner: new PcapScanner(linkType, littleEndian, nanoseconds, snapshot, onPacket), dataStart: PCAP_HEADER_BYTES };
}

/**
 * Reads every packet of a pcap or pcapng file into `onPacket` (offsets index the chunk it is
 * given). `onLinkType` runs before the first packet and whenever the link type of the packets
 * that follow changes (pcapng files may mix them), and may throw to refuse the link type.
 * `signal` stops the read between chunks (throwing its reason); packets before were delivered.
 * `pause`, called between chunks, may return a promise to wait for first (a sink that cannot
 * write now); null goes on at once.
 * @throws CaptureFileError (cannot open, not a capture file, damaged at some offset: packets
 *   before the damage were delivered); whatever `onLinkType` or `onPacket` throws, unchanged.
 */
export async function readPcapFile(
  path: string,
  onLinkType: (linkType: number) => void,
  onPacket: PacketHandler,
  signal?: AbortSignal,
  pause?: () => Promise<void> | null,
): Promise<CaptureFileCounts> {
  let file: fs.FileHandle;
  try {
    file = await fs.open(path, 'r');
  } catch (err) {
    throw new CaptureFileError(path, `cannot open capture file: ${systemErrorText(err)}`, undefined, { cause: err });
  }
  try {
    const size = (await file.stat()).size;
    let reserve = INITIAL_RESERVE;
    let current = new Chunk(reserve);
    let spare = new Chunk(reserve);
    let filled = (await file.read(current.buf, reserve, CHUNK_BYTES, 0)).bytesRead;
    const { scanner, dataStart } = scannerFor(current.buf.subarray(reserve, reserve + filled), size, onPacket, onLinkType);
    let base = -reserve; // file offset of buf[0]
    let at = reserve + dataStart;
    let end = reserve + filled;
    for (;;) {
      // the next read fills the spare chunk while this one is scanned
      const ahead = filled < size ? file.read(spare.buf, reserve, CHUNK_BYTES, filled) : null;
      at = scanner.scan(current.buf, current.view, at, end, base);
      const fileAt = base + at;
      if (!ahead) {
        if (at === end) return scanner.counts;
        throw new FormatProblem(scanner.truncation(fileAt, size - fileAt));
      }
      const { bytesRead } = await ahead;
      signal?.throwIfAborted();
      const waiting = pause?.();
      if (waiting) await waiting;
      const tail = end - at;
      if (bytesRead === 0) throw new FormatProblem(scanner.truncation(fileAt, tail)); // the file shrank while being read
      if (tail > reserve) {
        // a record longer than the reserve (a large pcapng block): both chunks grow to hold it
        const grown = new Chunk(tail);
        spare.buf.copy(grown.buf, tail, reserve, reserve + bytesRead);
        spare = grown;
        reserve = tail;
      }
      current.buf.copy(spare.buf, reserve - tail, at, end);
      filled += bytesRead;
      base = fileAt - (reserve - tail);
      at = reserve - tail;
      end = reserve + bytesRead;
      const scanned = current;
      current = spare;
      spare = scanned.reserve === reserve ? scanned : new Chunk(reserve);
    }
  } catch (err) {
    if (err instanceof FormatProblem) throw new CaptureFileError(path, err.problem.detail, err.problem.offset);
    throw err;
  } finally {
    await file.close();
  }
}

/** Node's "ENOENT: no such file or directory, open '/x'" as "no such file or directory (ENOENT)". */
function systemErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && typeof e.message === 'string') {
    const text = e.message.replace(new RegExp(`^${e.code}: `), '').replace(/, \w+ '.*'$/, '');
    return `${text} (${e.code})`;
  }
  return String(err);
}

export interface FileInspection {
  format: 'pcap' | 'pcapng' | 'unknown';
  /** Packet records read before the problem (or in the whole file). */
  packets: number;
  /** Distinct link types of the packets read, in order of appearance (pcapng files may mix them). */
  linkTypes: number[];
  problem: CaptureFileProblem | null;
}

/**
 * Walks the whole file and reports the first broken structure, if any: what libpcap's
 * terse errors ("unknown file format", a read error with no message) are explained with.
 */
export async function inspectCaptureFile(path: string): Promise<FileInspection> {
  let packets = 0;
  const linkTypes: number[] = [];
  const noteLinkType = (linkType: number): void => {
    if (!linkTypes.includes(linkType)) linkTypes.push(linkType);
  };
  try {
    const counts = await readPcapFile(path, noteLinkType, () => packets++);
    return { format: counts.format, packets, linkTypes, problem: null };
  } catch (err) {
    if (!(err instanceof CaptureFileError) || err.offset === undefined) throw err;
    return { format: await formatOf(path), packets, linkTypes, problem: { offset: err.offset, detail: err.message.slice(path.length + 2) } };
  }
}

async function formatOf(path: string): Promise<FileInspection['format']> {
  const file = await fs.open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(4), 0, 4, 0);
    if (bytesRead < 4) return 'unknown';
    const magic = buffer.readUInt32BE(0);
    if (magic === PCAPNG_SHB) return 'pcapng';
    return PCAP_MAGICS.includes(magic) ? 'pcap' : 'unknown';
  } finally {
    await file.close();
  }
}
