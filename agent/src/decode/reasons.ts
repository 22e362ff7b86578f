/**
 * Decode outcomes. Every packet fed to the decoder ends in exactly one reason, counted in
 * DecodeStats, so `sum(counts) == packets fed` always holds. Reasons are of three kinds:
 * `ok` (an IP packet the flow table can use), `skipped` (valid traffic that carries no flow
 * for us: ARP, STP, LLDP... or a fragment whose first fragment we never saw) and
 * `malformed` (the packet, or the capture's truncation of it, cannot be decoded).
 */

export const DECODE_REASONS = [
  'ok',
  'non_ip',
  'fragment_orphan',
  'truncated_link',
  'truncated_ip',
  'truncated_transport',
  'ipv6_ext_truncated',
  'bad_ip_version',
  'bad_ip_header',
  'bad_ip_length',
  'bad_ipv6_ext',
  'bad_tcp_header',
  'bad_udp_header',
  'bad_icmp_header',
  'bad_sctp_header',
] as const;
export type DecodeReason = (typeof DECODE_REASONS)[number];

export type DecodeReasonKind = 'ok' | 'skipped' | 'malformed';

const SKIPPED: ReadonlySet<DecodeReason> = new Set(['non_ip', 'fragment_orphan']);

export function decodeReasonKind(reason: DecodeReason | number): DecodeReasonKind {
  const name = typeof reason === 'number' ? DECODE_REASONS[reason] : reason;
  if (name === 'ok') return 'ok';
  return SKIPPED.has(name) ? 'skipped' : 'malformed';
}

/** True when the reason means the packet could not be decoded (as opposed to ok or skipped). */
export function isMalformed(reason: DecodeReason | number): boolean {
  return decodeReasonKind(reason) === 'malformed';
}

/** Numeric codes returned by PacketDecoder.decode (index into DECODE_REASONS). */
export const REASON = Object.fromEntries(DECODE_REASONS.map((name, code) => [name, code])) as {
  readonly [K in DecodeReason]: number;
};

/** Per-reason packet counts. A typed array so the hot path only increments a slot; metrics read it. */
export class DecodeStats {
  /** counts[code] = packets that ended with DECODE_REASONS[code]. Float64 so it never wraps. */
  readonly counts = new Float64Array(DECODE_REASONS.length);

  total(): number {
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) sum += this.counts[i];
    return sum;
  }

  count(reason: DecodeReason): number {
    return this.counts[REASON[reason]];
  }

  /** Counts by reason name (every reason present, zeros included). */
  byReason(): Record<DecodeReason, number> {
    const result = {} as Record<DecodeReason, number>;
    DECODE_REASONS.forEach((name, code) => (result[name] = this.counts[code]));
    return result;
  }

  /** Sum of the malformed reasons. */
  malformed(): number {
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) if (isMalformed(i)) sum += this.counts[i];
    return sum;
  }

  /** Adds another DecodeStats' counts into this one (e.g. per-file stats into a total). */
  add(other: DecodeStats): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i];
  }

  reset(): void {
    this.counts.fill(0);
  }
}
