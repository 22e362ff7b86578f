/**
 * The node's address translations (NAT), as the kernel's connection tracking reports them:
 * for each translated connection, its original tuple (what the initiator sent, seen on the
 * interface where the connection entered the node) and its translated tuple (what left the
 * node). Looked up by either tuple, in either orientation, when a flow record is emitted.
 *
 * Bounded: at most `maxConnections` entries (the oldest goes first, counted as evicted);
 * a connection conntrack destroyed stays `graceMs` longer, because a flow's record can be
 * emitted after conntrack forgot it (an unanswered UDP flow: conntrack 30 s, our idle 60 s).
 */
import { communityIdV1 } from '../flow/communityId';
import { formatIp, parseIp } from '../flow/addresses';
import { isIcmp } from '../flow/protocols';
import type { TranslatedTuple, TupleSide } from '../flowtable/flowTable';

/** One direction-oriented tuple: ports are the ICMP echo identifier for echo. */
export interface ConntrackTuple {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
}

/** A conntrack entry: `original` as the initiator sent it, `reply` as the responder sends back. */
export interface ConntrackConnection {
  protocol: number;
  original: ConntrackTuple;
  reply: ConntrackTuple;
  /** ICMP type and code of the original direction (null for other protocols). */
  icmpType: number | null;
  icmpCode: number | null;
}


interface Entry {
  original: TupleSide;
  translated: TupleSide;
  keys: [string, string];
  destroyed: boolean;
}

export interface NatTableOptions {
  maxConnections: number;
  /** How long a destroyed connection stays linkable. */
  graceMs: number;
  now?: () => number;
}

export interface NatTableStats {
  connections: number;
  evicted: number;
}

/** Map key of a tuple regardless of orientation. */
function tupleKey(protocol: number, aIp: string, aPort: number, bIp: string, bPort: number): string {
  const a = `${aIp}|${aPort}`;
  const b = `${bIp}|${bPort}`;
  return a < b ? `${protocol}|${a}|${b}` : `${protocol}|${b}|${a}`;
}

function side(protocol: number, srcIp: string, srcPort: number, dstIp: string, dstPort: number, icmpType: number | null, icmpCode: number | null): TupleSide | null {
  const src = parseIp(srcIp);
  const dst = parseIp(dstIp);
  if (!src || !dst || src.version !== dst.version) return null;
  // the Community ID of ICMP takes type and code, not the echo identifier (as for records)
  const communityId = isIcmp(protocol)
    ? communityIdV1(protocol, src.bytes, dst.bytes, icmpType ?? 0, icmpCode ?? 0)
    : communityIdV1(protocol, src.bytes, dst.bytes, srcPort, dstPort);
  return {
    srcIp: formatIp(src.bytes, src.version), srcPort, dstIp: formatIp(dst.bytes, dst.version), dstPort,
    srcBytes: src.bytes, dstBytes: dst.bytes, communityId,
  };
}

export class NatTable {
  private readonly byKey = new Map<string, Entry>();
  /** Entries by insertion (oldest first), keyed by their original tuple's key. */
  private readonly entries = new Map<string, Entry>();
  /** Destroyed entries in destroy order, with the time they stop being linkable. */
  private readonly expiring: { entry: Entry; untilMs: number }[] = [];
  private expiringHead = 0;
  private evicted = 0;
  private readonly now: () => number;

  constructor(private readonly options: NatTableOptions) {
    this.now = options.now ?? Date.now;
  }

  get stats(): NatTableStats {
    return { connections: this.entries.size, evicted: this.evicted };
  }

  /** Adds (or replaces) a connection; untranslated ones are ignored. Returns whether it was kept. */
  add(c: ConntrackConnection): boolean {
    this.expire();
    const o = c.original;
    const r = c.reply;
    // what left the node, oriented like the original: src = reply's dst
    const original = side(c.protocol, o.src, o.srcPort, o.dst, o.dstPort, c.icmpType, c.icmpCode);
    const translated = side(c.protocol, r.dst, r.dstPort, r.src, r.srcPort, c.icmpType, c.icmpCode);
    if (!original || !translated) return false;
    if (original.srcIp === translated.srcIp && original.dstIp === translated.dstIp &&
      original.srcPort === translated.srcPort && original.dstPort === translated.dstPort) return false;
    const keys: [string, string] = [
      tupleKey(c.protocol, original.srcIp, original.srcPort, original.dstIp, original.dstPort),
      tupleKey(c.protocol, translated.srcIp, translated.srcPort, translated.dstIp, translated.dstPort),
    ];
    for (const key of keys) {
      const previous = this.byKey.get(key);
      if (previous) this.remove(previous);
    }
    while (this.entries.size >= this.options.maxConnections) {
      const oldest = this.entries.values().next().value as Entry;
      this.remove(oldest);
      this.evicted++;
    }
    const entry: Entry = { original, translated, keys, destroyed: false };
    this.entries.set(keys[0], entry);
    this.byKey.set(keys[0], entry);
    this.byKey.set(keys[1], entry);
    return true;
  }

  /** Conntrack forgot the connection: it stays linkable for the grace period. */
  destroy(c: ConntrackConnection): void {
    this.expire();
    const o = c.original;
    const entry = this.byKey.get(tupleKey(c.protocol, formatIpText(o.src), o.srcPort, formatIpText(o.dst), o.dstPort));
    if (!entry || entry.destroyed) return;
    entry.destroyed = true;
    this.expiring.push({ entry, untilMs: this.now() + this.options.graceMs });
  }

  /**
   * The tuple's other side, oriented like the arguments (src stays the same endpoint), or
   * null when the node did not translate this connection.
   */
  lookup(protocol: number, srcIp: string, srcPort: number, dstIp: string, dstPort: number): TranslatedTuple | null {
    const key = tupleKey(protocol, srcIp, srcPort, dstIp, dstPort);
    const entry = this.byKey.get(key);
    if (!entry) return null;
    const isOriginal = entry.keys[0] === key;
    const here = isOriginal ? entry.original : entry.translated;
    const there = isOriginal ? entry.translated : entry.original;
    const sameOrientation = here.srcIp === srcIp && here.srcPort === srcPort;
    return sameOrientation
      ? {
        original: isOriginal, communityId: there.communityId,
        srcIp: there.srcIp, srcPort: there.srcPort, dstIp: there.dstIp, dstPort: there.dstPort,
        srcBytes: there.srcBytes, dstBytes: there.dstBytes,
      }
      : {
        original: isOriginal, communityId: there.communityId,
        srcIp: there.dstIp, srcPort: there.dstPort, dstIp: there.srcIp, dstPort: there.srcPort,
        srcBytes: there.dstBytes, dstBytes: there.srcBytes,
      };
  }

  private remove(entry: Entry): void {
    for (const key of entry.keys) if (this.byKey.get(key) === entry) this.byKey.delete(key);
    if (this.entries.get(entry.keys[0]) === entry) this.entries.delete(entry.keys[0]);
  }

  /** Drops destroyed entries whose grace is over (destroy order is expiry order). */
  private expire(): void {
    const now = this.now();
    while (this.expiringHead < this.expiring.length && this.expiring[this.expiringHead].untilMs <= now) {
      this.remove(this.expiring[this.expiringHead++].entry);
    }
    if (this.expiringHead > 1024 && this.expiringHead * 2 > this.expiring.length) {
      this.expiring.splice(0, this.expiringHead);
      this.expiringHead = 0;
    }
  }
}

/** An address as records write it (conntrack prints IPv6 in its own form). */
function formatIpText(text: string): string {
  const ip = parseIp(text);
  return ip ? formatIp(ip.bytes, ip.version) : text;
}
