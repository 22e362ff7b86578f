/**
 * Typed access to Flowmesh's libpcap addon (agent/native/capture.cc, built by
 * agent/native/build.js; a prebuilt binary in agent/prebuilds/linux-<arch>/ is used when there
 * is no local build). One NativeCapture owns one libpcap handle, live or file. Packets come in
 * batches (PacketBatch): the packet bytes back to back in one Buffer and, per packet, a
 * 24-byte header record (timestamp, offset, captured length, wire length) in a typed array, so
 * callers read every packet in place with no object and no native call per packet.
 *
 * The addon's contract (see capture.cc):
 * - read() fills one batch synchronously and returns its packet count (0: end of file); a
 *   read error after some packets returns them first and throws at the next call;
 * - start() polls a live handle on the event loop and calls onBatch(count, error) once per
 *   batch, at most one batch per readiness so capture never holds the event loop; `error` is
 *   libpcap's read error, after which nothing more is delivered;
 * - close() is immediate and idempotent (also inside onBatch); a collected object closes itself.
 */
import { join } from 'node:path';

/** The addon's Capture object. */
export interface NativeCapture {
  /** @returns libpcap's activation warning, if any. @throws libpcap's error. */
  openLive(device: string, snapLen: number, bufferBytes: number, promiscuous: boolean, timeoutMs: number): string | undefined;
  openOffline(path: string): void;
  /** @throws the BPF compiler's message. */
  setFilter(expression: string): void;
  /** DLT number (pcap_datalink). */
  linkType(): number;
  /** Room one packet may need in a batch (the snap length plus slack). */
  snapshot(): number;
  read(data: Buffer, headers: Float64Array): number;
  start(data: Buffer, headers: Float64Array, onBatch: (count: number, error: string | undefined) => void): void;
  /** [ps_recv, ps_drop, ps_ifdrop] */
  stats(): [number, number, number];
  close(): void;
}

interface Addon {
  Capture: new () => NativeCapture;
  libVersion(): string;
  openHandles(): [number, number];
}

const AGENT_ROOT = join(__dirname, '../..');
let cached: Addon | undefined;

function addon(): Addon {
  if (cached) return cached;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const load = require('node-gyp-build') as (dir: string) => Addon;
    cached = load(AGENT_ROOT);
  } catch (err) {
    throw new Error(
      `the capture addon is not built for ${process.platform}-${process.arch} (${err instanceof Error ? err.message.split('\n')[0] : String(err)}): ` +
        'run `npm rebuild -w agent` (needs a C++ compiler and libpcap-dev), or scripts/build-capture-addon.sh for a prebuilt binary',
      { cause: err },
    );
  }
  return cached;
}

export function newNativeCapture(): NativeCapture {
  return new (addon().Capture)();
}

/** Compiles and installs a BPF filter. @throws Error "invalid capture filter '<filter>': <the compiler's message>". */
export function applyFilter(native: NativeCapture, filter: string): void {
  try {
    native.setFilter(filter);
  } catch (err) {
    throw new Error(`invalid capture filter '${filter}': ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/** libpcap's version string, e.g. "libpcap version 1.10.3 (with TPACKET_V3)". */
export function libpcapVersion(): string {
  return addon().libVersion();
}

/** Native handles alive in this process (leak checks): libpcap handles open, and poll handles libuv has not yet released. */
export function openNativeHandles(): { pcap: number; poll: number } {
  const [pcap, poll] = addon().openHandles();
  return { pcap, poll };
}

/** Header record: 3 doubles per packet (timestamp; then offset, captured and wire length as u32 words 2-4). */
const HEADER_DOUBLES = 3;
const HEADER_WORDS = 6;
/** A batch holds at least this many bytes of packets. */
const MIN_BATCH_BYTES = 4 << 20;
/** Packets per batch at most: one batch is one turn of the event loop (a few ms of decoding). */
export const BATCH_PACKETS = 4096;

/** The shared buffers a batch is read into, and in-place accessors for packet i. */
export class PacketBatch {
  readonly data: Buffer;
  readonly headers: Float64Array;
  /** The same bytes as `headers`, as u32 words. */
  private readonly words: Uint32Array;

  /** `snapshot`: the largest captured length one packet may have (NativeCapture.snapshot()). */
  constructor(snapshot: number, packets = BATCH_PACKETS) {
    // not zeroed: only bytes libpcap wrote are read, and untouched pages cost no memory
    this.data = Buffer.allocUnsafeSlow(Math.max(MIN_BATCH_BYTES, 4 * snapshot));
    this.headers = new Float64Array(packets * HEADER_DOUBLES);
    this.words = new Uint32Array(this.headers.buffer);
  }

  /** Capture time of packet i, epoch microseconds. */
  tsUs(i: number): number {
    return this.headers[i * HEADER_DOUBLES];
  }
  offset(i: number): number {
    return this.words[i * HEADER_WORDS + 2];
  }
  capLen(i: number): number {
    return this.words[i * HEADER_WORDS + 3];
  }
  wireLen(i: number): number {
    return this.words[i * HEADER_WORDS + 4];
  }
}
