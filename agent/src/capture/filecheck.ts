/**
 * Structure walker for capture files, used only when libpcap refuses or stops reading a
 * file: the binding returns -1 from dispatch without a message, and open errors say
 * little ("unknown file format"). The walker reads record and block headers (never packet
 * data) of pcap (µs and ns magic, both byte orders) and pcapng (SHB/IDB/EPB/SPB/PB, other
 * blocks skipped by length) and reports the first byte offset where the file breaks a rule
 * libpcap enforces, so the user gets e.g.
 *   corrupt.pcap: truncated packet record at byte offset 1234 (needs 1514 bytes, 200 left)
 */
import * as fs from 'node:fs';

/** libpcap's largest accepted captured length (MAXIMUM_SNAPLEN). */
export const MAX_CAPTURED_LENGTH = 262144;
/** libpcap's largest pcapng block (MAX_BLOCKSIZE_FOR_MAX_SNAPLEN rounded; 16 MiB). */
export const MAX_PCAPNG_BLOCK = 16 * 1024 * 1024;

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_PB = 0x00000002;
const PCAPNG_SPB = 0x00000003;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** A capture file that cannot be read (or read further): names the file, the byte offset and what is wrong. */
export class CaptureFileError extends Error {
  readonly file: string;
  /** Byte offset of the problem, when known. */
  readonly offset: number | undefined;
  constructor(file: string, detail: string, offset?: number, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
    this.name = 'CaptureFileError';
    this.file = file;
    this.offset = offset;
  }
}

export interface FileProblem {
  offset: number;
  /** Without the file name, e.g. "truncated packet record at byte offset 40 (needs 60 bytes, 7 left)". */
  detail: string;
}

export interface FileInspection {
  format: 'pcap' | 'pcapng' | 'unknown';
  /** Packet records read before the problem (or in the whole file). */
  packets: number;
  problem: FileProblem | null;
}

/** Reads small pieces of a file through a 1 MiB window (headers only; packet data is skipped by offset). */
class FileWindow {
  private readonly window = Buffer.alloc(1 << 20);
  private start = 0;
  private length = 0;
  readonly size: number;

  constructor(private readonly fd: number) {
    this.size = fs.fstatSync(fd).size;
  }

  /** A view of `len` (≤ 1 MiB) bytes at `offset`; the caller has checked they exist. */
  bytes(offset: number, len: number): Buffer {
    if (offset < this.start || offset + len > this.start + this.length) {
      this.start = offset;
      this.length = fs.readSync(this.fd, this.window, 0, this.window.length, offset);
    }
    return this.window.subarray(offset - this.start, offset - this.start + len);
  }
}

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

function problem(offset: number, detail: string): FileProblem {
  return { offset, detail };
}

function truncated(what: string, offset: number, needs: number, left: number): FileProblem {
  return problem(offset, `truncated ${what} at byte offset ${offset} (needs ${needs} bytes, ${left} left)`);
}

export function inspectCaptureFile(path: string): FileInspection {
  const fd = fs.openSync(path, 'r');
  try {
    const file = new FileWindow(fd);
    if (file.size === 0) {
      return { format: 'unknown', packets: 0, problem: problem(0, 'empty file (0 bytes), expected a pcap or pcapng file header at byte offset 0') };
    }
    if (file.size < 4) return { format: 'unknown', packets: 0, problem: truncated('file header', 0, 4, file.size) };
    const magic = file.bytes(0, 4).readUInt32BE(0);
    switch (magic) {
      case 0xa1b2c3d4:
      case 0xa1b23c4d:
        return walkPcap(file, false);
      case 0xd4c3b2a1:
      case 0x4d3cb2a1:
        return walkPcap(file, true);
      case PCAPNG_SHB:
        return walkPcapng(file);
      default:
        return {
          format: 'unknown',
          packets: 0,
          problem: problem(0, `not a pcap or pcapng file (magic ${hex32(magic)}) at byte offset 0`),
        };
    }
  } finally {
    fs.closeSync(fd);
  }
}

function walkPcap(file: FileWindow, littleEndian: boolean): FileInspection {
  const result: FileInspection = { format: 'pcap', packets: 0, problem: null };
  if (file.size < 24) {
    result.problem = truncated('pcap file header', 0, 24, file.size);
    return result;
  }
  const header = file.bytes(0, 24);
  const major = littleEndian ? header.readUInt16LE(4) : header.readUInt16BE(4);
  const minor = littleEndian ? header.readUInt16LE(6) : header.readUInt16BE(6);
  if (major !== 2) {
    result.problem = problem(4, `unsupported pcap format version ${major}.${minor} at byte offset 4 (expected 2.x)`);
    return result;
  }
  let offset = 24;
  while (offset < file.size) {
    const left = file.size - offset;
    if (left < 16) {
      result.problem = truncated('packet record header', offset, 16, left);
      return result;
    }
    const record = file.bytes(offset, 16);
    const capLen = littleEndian ? record.readUInt32LE(8) : record.readUInt32BE(8);
    if (capLen > MAX_CAPTURED_LENGTH) {
      result.problem = problem(
        offset,
        `packet record at byte offset ${offset} has captured length ${capLen}, more than the maximum ${MAX_CAPTURED_LENGTH}`,
      );
      return result;
    }
    if (capLen > left - 16) {
      result.problem = truncated('packet record', offset, capLen, left - 16);
      return result;
    }
    result.packets++;
    offset += 16 + capLen;
  }
  return result;
}

function walkPcapng(file: FileWindow): FileInspection {
  const result: FileInspection = { format: 'pcapng', packets: 0, problem: null };
  let littleEndian = true;
  let interfaces = 0;
  let firstLinkType = -1;
  let offset = 0;
  const fail = (p: FileProblem): FileInspection => {
    result.problem = p;
    return result;
  };
  while (offset < file.size) {
    const left = file.size - offset;
    if (left < 12) return fail(truncated('pcapng block', offset, 12, left));
    const head = file.bytes(offset, 12);
    const type = head.readUInt32BE(0) === PCAPNG_SHB ? PCAPNG_SHB : littleEndian ? head.readUInt32LE(0) : head.readUInt32BE(0);
    if (type === PCAPNG_SHB) {
      const orderMagic = head.readUInt32LE(8);
      if (orderMagic === PCAPNG_BYTE_ORDER_MAGIC) littleEndian = true;
      else if (head.readUInt32BE(8) === PCAPNG_BYTE_ORDER_MAGIC) littleEndian = false;
      else {
        return fail(
          problem(offset, `section header block at byte offset ${offset} has bad byte-order magic ${hex32(head.readUInt32BE(8))}`),
        );
      }
      interfaces = 0;
    } else if (offset === 0) {
      return fail(problem(0, 'first pcapng block at byte offset 0 is not a section header block'));
    }
    const length = littleEndian ? head.readUInt32LE(4) : head.readUInt32BE(4);
    const minimum = type === PCAPNG_SHB ? 28 : 12;
    if (length < minimum || length % 4 !== 0) {
      return fail(problem(offset, `pcapng block at byte offset ${offset} has invalid total length ${length}`));
    }
    if (length > MAX_PCAPNG_BLOCK) {
      return fail(
        problem(offset, `pcapng block at byte offset ${offset} has total length ${length}, more than the maximum ${MAX_PCAPNG_BLOCK}`),
      );
    }
    if (length > left) return fail(truncated('pcapng block', offset, length, left));
    const trailer = file.bytes(offset + length - 4, 4);
    const trailing = littleEndian ? trailer.readUInt32LE(0) : trailer.readUInt32BE(0);
    if (trailing !== length) {
      return fail(
        problem(offset, `pcapng block at byte offset ${offset} has trailing length ${trailing}, different from its leading length ${length}`),
      );
    }
    const body = file.bytes(offset, Math.min(length, 32));
    const u32 = (at: number) => (littleEndian ? body.readUInt32LE(at) : body.readUInt32BE(at));
    const u16 = (at: number) => (littleEndian ? body.readUInt16LE(at) : body.readUInt16BE(at));
    if (type === PCAPNG_IDB) {
      if (length < 20) return fail(problem(offset, `interface description block at byte offset ${offset} is too short (${length} bytes)`));
      const linkType = u16(8);
      if (firstLinkType < 0) firstLinkType = linkType;
      else if (linkType !== firstLinkType) {
        return fail(
          problem(
            offset,
            `interface description block at byte offset ${offset} has link type ${linkType}, different from ${firstLinkType} of the first interface (libpcap reads one link type per file)`,
          ),
        );
      }
      interfaces++;
    } else if (type === PCAPNG_EPB || type === PCAPNG_PB || type === PCAPNG_SPB) {
      const name = type === PCAPNG_EPB ? 'enhanced packet block' : type === PCAPNG_SPB ? 'simple packet block' : 'packet block';
      const headerLen = type === PCAPNG_SPB ? 16 : 32;
      if (length < headerLen) return fail(problem(offset, `${name} at byte offset ${offset} is too short (${length} bytes)`));
      const iface = type === PCAPNG_EPB ? u32(8) : type === PCAPNG_PB ? u16(8) : 0;
      if (iface >= interfaces) {
        return fail(
          problem(offset, `${name} at byte offset ${offset} refers to interface ${iface}, but only ${interfaces} are defined`),
        );
      }
      if (type !== PCAPNG_SPB) {
        const capLen = u32(20);
        if (capLen > MAX_CAPTURED_LENGTH || capLen > length - headerLen) {
          return fail(
            problem(offset, `${name} at byte offset ${offset} has captured length ${capLen}, larger than the block (${length} bytes)`),
          );
        }
      }
      result.packets++;
    }
    offset += length;
  }
  return result;
}
