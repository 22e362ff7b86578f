/**
 * Reads a pcap or pcapng file, handing each packet to a PacketHandler without per-packet
 * allocation: through the JavaScript reader (pcapfile.ts, the fast path), or through
 * libpcap when a BPF filter is given (libpcap compiles and runs it) or when asked to.
 *
 * Through libpcap the file is read in batches (binding.ts), one per event-loop turn, so the
 * store writes while the file is read and an import can be interrupted between batches. When
 * libpcap refuses the file or stops with a read error, the JavaScript reader walks the file to
 * find the first bad byte offset, so both paths fail with the same CaptureFileError naming
 * file, offset and reason (libpcap's own message when the walk finds nothing wrong). Packets
 * delivered before the damage stay delivered.
 */
import * as fs from 'node:fs';
import { UnsupportedLinkTypeError, describeLinkType, isSupportedLinkType } from '../decode/linktypes';
import { PacketTime } from '../decode/packet';
import { PacketBatch, applyFilter, newNativeCapture } from './binding';
import { CaptureFileError } from './errors';
import { inspectCaptureFile, readPcapFile } from './pcapfile';
import type { PacketHandler } from './types';

export interface ReadCaptureOptions {
  /** BPF filter expression (tcpdump syntax); empty = every packet. Read through libpcap. */
  filter?: string;
  /** Read through libpcap even without a filter (a reference for tests and the bench). */
  libpcap?: boolean;
  /**
   * Called before the first packet with the file's link type, and again whenever the link
   * type of the packets that follow changes (a pcapng file may mix them; libpcap refuses such
   * files, so through libpcap it is called once).
   */
  onOpen?: (linkType: number) => void;
  /**
   * Stops reading when aborted, throwing the signal's reason: between chunks of a few MiB
   * (JavaScript reader) or batches of packets (libpcap).
   */
  signal?: AbortSignal;
  /**
   * Called between chunks (JavaScript reader) or batches of packets (libpcap); a returned
   * promise is waited for before reading on (an import waiting for its store).
   */
  pause?: () => Promise<void> | null;
}

export interface CaptureFileSummary {
  packets: number;
  /** Sum of on-the-wire lengths (what tshark/capinfos call bytes). */
  bytes: number;
  /** Sum of captured lengths. */
  capturedBytes: number;
  /** DLT number, e.g. 1 for Ethernet. */
  linkType: number;
  linkTypeName: string;
}

/**
 * Reads every packet of `path` into `onPacket`.
 * @throws CaptureFileError (unreadable, not a capture file, corrupt at some offset; packets
 *   before the damage were delivered), UnsupportedLinkTypeError (before any packet), or an
 *   Error wrapping the first exception thrown by `onPacket` (reading stops there).
 */
export async function readCaptureFile(path: string, options: ReadCaptureOptions, onPacket: PacketHandler): Promise<CaptureFileSummary> {
  options.signal?.throwIfAborted();
  return options.filter || options.libpcap ? readWithLibpcap(path, options, onPacket) : readInJavaScript(path, options, onPacket);
}

async function readInJavaScript(path: string, options: ReadCaptureOptions, onPacket: PacketHandler): Promise<CaptureFileSummary> {
  let packets = 0;
  const counted: PacketHandler = (buf, offset, capLen, wireLen, time) => {
    packets++;
    onPacket(buf, offset, capLen, wireLen, time);
  };
  const onLinkType = (linkType: number): void => {
    if (!isSupportedLinkType(linkType)) throw new UnsupportedLinkTypeError(linkType, path);
    options.onOpen?.(linkType);
  };
  try {
    const counts = await readPcapFile(path, onLinkType, counted, options.signal, options.pause);
    return { packets: counts.packets, bytes: counts.bytes, capturedBytes: counts.capturedBytes, linkType: counts.linkType, linkTypeName: describeLinkType(counts.linkType) };
  } catch (err) {
    if (err instanceof CaptureFileError || err instanceof UnsupportedLinkTypeError || packets === 0 || err === options.signal?.reason) throw err;
    throw new Error(`${path}: packet handler failed at packet ${packets}: ${errorMessage(err)}`, { cause: err });
  }
}

async function readWithLibpcap(path: string, options: ReadCaptureOptions, onPacket: PacketHandler): Promise<CaptureFileSummary> {
  const native = newNativeCapture();
  try {
    try {
      native.openOffline(path);
    } catch (err) {
      throw await openError(path, err);
    }
    if (options.filter) {
      try {
        applyFilter(native, options.filter);
      } catch (err) {
        throw new CaptureFileError(path, errorMessage(err), undefined, { cause: err });
      }
    }
    const linkType = native.linkType();
    if (!isSupportedLinkType(linkType)) throw new UnsupportedLinkTypeError(linkType, path);
    options.onOpen?.(linkType);

    const batch = new PacketBatch(native.snapshot());
    const time = new PacketTime();
    let packets = 0;
    let bytes = 0;
    let capturedBytes = 0;
    for (;;) {
      let count: number;
      try {
        count = native.read(batch.data, batch.headers);
      } catch (err) {
        throw await readError(path, packets, err);
      }
      if (count === 0) break;
      try {
        for (let i = 0; i < count; i++) {
          const capLen = batch.capLen(i);
          const wireLen = batch.wireLen(i);
          packets++;
          bytes += wireLen;
          capturedBytes += capLen;
          time.us = batch.tsUs(i);
          onPacket(batch.data, batch.offset(i), capLen, wireLen, time);
        }
      } catch (err) {
        throw new Error(`${path}: packet handler failed at packet ${packets}: ${errorMessage(err)}`, { cause: err });
      }
      // between batches: the store writes, an import can be interrupted or wait for its store
      await new Promise(setImmediate);
      options.signal?.throwIfAborted();
      const waiting = options.pause?.();
      if (waiting) await waiting;
      options.signal?.throwIfAborted();
    }
    return { packets, bytes, capturedBytes, linkType, linkTypeName: describeLinkType(linkType) };
  } finally {
    native.close();
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function openError(path: string, err: unknown): Promise<Error> {
  const message = errorMessage(err);
  let exists = false;
  try {
    exists = fs.statSync(path).isFile();
  } catch {
    // not there or not readable: libpcap's message says which
  }
  const explained = exists ? await explainLibpcapFailure(path, err) : undefined;
  return explained ?? new CaptureFileError(path, `cannot open capture file: ${message}`, undefined, { cause: err });
}

async function readError(path: string, delivered: number, err: unknown): Promise<CaptureFileError> {
  const explained = await explainLibpcapFailure(path, err);
  return explained ?? new CaptureFileError(path, `libpcap stopped with a read error after ${delivered} packets: ${errorMessage(err)}`, undefined, { cause: err });
}

/** What libpcap's terse failure was about, found by walking the file: a damaged structure, or mixed link types. */
async function explainLibpcapFailure(path: string, cause?: unknown): Promise<CaptureFileError | undefined> {
  const inspection = await safeInspect(path);
  if (inspection?.problem) return new CaptureFileError(path, inspection.problem.detail, inspection.problem.offset, { cause });
  if (inspection && inspection.linkTypes.length > 1) {
    return new CaptureFileError(
      path,
      `libpcap reads one link type per file, and this pcapng file mixes link types ${inspection.linkTypes.join(', ')}: ` +
        'import it without a filter (Flowmesh\'s own reader decodes each interface with its link type)',
      undefined,
      { cause },
    );
  }
  return undefined;
}

async function safeInspect(path: string): Promise<Awaited<ReturnType<typeof inspectCaptureFile>> | undefined> {
  try {
    return await inspectCaptureFile(path);
  } catch {
    return undefined;
  }
}
