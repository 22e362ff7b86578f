/**
 * Streaming pcap writer for the generator: one reusable chunk (4 MiB), written with large
 * synchronous writes and zeroed after each write, so packet payloads are left untouched
 * (zero) and only headers are written per packet.
 */
import * as fs from 'node:fs';

const CHUNK_BYTES = 4 * 1024 * 1024;
export const SYNTH_SNAPLEN = 262144;

export class PcapWriter {
  /** The chunk; callers write a record at the offset reserve() returns. */
  readonly chunk = Buffer.alloc(CHUNK_BYTES);
  private used = 0;
  private readonly fd: number;
  bytesWritten = 0;

  constructor(path: string, linkType: number) {
    this.fd = fs.openSync(path, 'w');
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0); // microsecond timestamps, little-endian file
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(SYNTH_SNAPLEN, 16);
    header.writeUInt32LE(linkType, 20);
    fs.writeSync(this.fd, header);
    this.bytesWritten = 24;
  }

  /** Room for one record of `bytes` (record header included); returns its offset in chunk. */
  reserve(bytes: number): number {
    if (this.used + bytes > CHUNK_BYTES) this.flush();
    const at = this.used;
    this.used += bytes;
    return at;
  }

  /** Gives back the unused tail of the last reservation (when a record ends up shorter). */
  shrinkLast(unused: number): void {
    this.used -= unused;
    this.chunk.fill(0, this.used, this.used + unused);
  }

  flush(): void {
    if (this.used === 0) return;
    let off = 0;
    while (off < this.used) off += fs.writeSync(this.fd, this.chunk, off, this.used - off);
    this.bytesWritten += this.used;
    this.chunk.fill(0, 0, this.used);
    this.used = 0;
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}
