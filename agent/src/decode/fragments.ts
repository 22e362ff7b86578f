/**
 * Remembers the transport fields of IP datagrams whose first fragment was seen, so the
 * later fragments of the same datagram get the same ports (or ICMP type/code/id) and count
 * to the same flow. Nothing is reassembled: each fragment still counts its own IP bytes.
 *
 * Bounded and allocation-free: typed arrays, open addressing with a short linear probe.
 * Key = (IP version, src, dst, fragment id, protocol). An entry lives `timeoutUs` after
 * the last fragment that touched it (30 s by default, the Linux ipfrag_time); when every
 * probed slot is live, the least recently used one is replaced, so a burst of fragmented
 * traffic can orphan old datagrams but never grows memory.
 */
import type { DecodedPacket } from './packet';

const KEY_WORDS = 10; // src (4 words), dst (4 words), id, version<<8 | protocol
const PROBES = 8;

export interface FragmentTableOptions {
  /** Slots; rounded up to a power of two. Default 4096. */
  size?: number;
  /** Entry lifetime after its last use, microseconds. Default 30 s. */
  timeoutUs?: number;
}

export class FragmentTable {
  private readonly mask: number;
  private readonly timeoutUs: number;
  private readonly keys: Uint32Array;
  /** Last use per slot, epoch µs; NaN = empty. */
  private readonly lastUs: Float64Array;
  private readonly ports: Uint32Array; // srcPort << 16 | dstPort
  private readonly icmp: Uint32Array; // type << 24 | code << 16 | echo id
  private readonly transport: Uint8Array; // 1 when the first fragment had transport fields
  /** Scratch key of the packet being looked up (filled by loadKey). */
  private readonly key = new Uint32Array(KEY_WORDS);

  constructor(options: FragmentTableOptions = {}) {
    let size = 1;
    while (size < (options.size ?? 4096)) size <<= 1;
    this.mask = size - 1;
    this.timeoutUs = options.timeoutUs ?? 30_000_000;
    this.keys = new Uint32Array(size * KEY_WORDS);
    this.lastUs = new Float64Array(size).fill(NaN);
    this.ports = new Uint32Array(size);
    this.icmp = new Uint32Array(size);
    this.transport = new Uint8Array(size);
  }

  /** Stores the transport fields of a first fragment (offset 0, more fragments follow). */
  remember(p: DecodedPacket, id: number): void {
    const home = this.loadKey(p, id);
    const now = p.tsUs;
    let target = -1;
    let oldest = -1;
    for (let i = 0; i < PROBES; i++) {
      const slot = (home + i) & this.mask;
      if (this.matches(slot)) {
        target = slot;
        break;
      }
      const last = this.lastUs[slot];
      if (target < 0 && (last !== last || now - last > this.timeoutUs)) target = slot; // empty or expired
      if (oldest < 0 || last < this.lastUs[oldest]) oldest = slot;
    }
    if (target < 0) target = oldest;
    this.keys.set(this.key, target * KEY_WORDS);
    this.lastUs[target] = now;
    this.ports[target] = ((p.srcPort << 16) | p.dstPort) >>> 0;
    this.icmp[target] = ((p.icmpType << 24) | (p.icmpCode << 16) | p.icmpId) >>> 0;
    this.transport[target] = p.hasTransport ? 1 : 0;
  }

  /** For a later fragment: copies the remembered fields into `p`; false when the first fragment is unknown. */
  recall(p: DecodedPacket, id: number): boolean {
    const home = this.loadKey(p, id);
    const now = p.tsUs;
    for (let i = 0; i < PROBES; i++) {
      const slot = (home + i) & this.mask;
      if (!this.matches(slot)) continue;
      if (now - this.lastUs[slot] > this.timeoutUs) return false;
      this.lastUs[slot] = now;
      const ports = this.ports[slot];
      const icmp = this.icmp[slot];
      p.srcPort = ports >>> 16;
      p.dstPort = ports & 0xffff;
      p.icmpType = icmp >>> 24;
      p.icmpCode = (icmp >>> 16) & 0xff;
      p.icmpId = icmp & 0xffff;
      p.hasTransport = this.transport[slot] === 1;
      return true;
    }
    return false;
  }

  /** Fills the scratch key from the packet and returns its home slot. */
  private loadKey(p: DecodedPacket, id: number): number {
    const key = this.key;
    const s = p.srcAddr;
    const d = p.dstAddr;
    let h = 0x811c9dc5;
    for (let w = 0; w < 4; w++) {
      const i = w * 4;
      key[w] = (s[i] << 24) | (s[i + 1] << 16) | (s[i + 2] << 8) | s[i + 3];
      key[w + 4] = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
    }
    key[8] = id;
    key[9] = (p.ipVersion << 8) | p.protocol;
    for (let w = 0; w < KEY_WORDS; w++) h = Math.imul(h ^ key[w], 0x01000193);
    return (h ^ (h >>> 15)) & this.mask;
  }

  private matches(slot: number): boolean {
    if (this.lastUs[slot] !== this.lastUs[slot]) return false; // empty
    const base = slot * KEY_WORDS;
    const keys = this.keys;
    const key = this.key;
    for (let w = 0; w < KEY_WORDS; w++) if (keys[base + w] !== key[w]) return false;
    return true;
  }
}
