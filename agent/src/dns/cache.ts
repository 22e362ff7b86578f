/**
 * Bounded address -> names memory filled from DNS answers seen on the wire, asked "which
 * name was this address resolved from at time t?".
 *
 * An address keeps every name answered for it while the answer is valid (a CDN address
 * serves many names), each with when it was first and last answered and when its TTL runs
 * out. A lookup for time t considers the names answered at or before t and still valid at t,
 * and the one answered latest wins. So a flow takes its name from an answer seen before its
 * first packet, never from one seen later.
 *
 * TTLs are clamped (a 5-second TTL would forget the name before the connection it announced
 * even starts; day-long ones would keep stale names). Memory is bounded twice: at most
 * `maxNamesPerAddress` names per address (the one expiring first goes), at most `maxEntries`
 * names in all (the address answered longest ago goes, with its names). Time is packet
 * time, so imports behave like live capture.
 */
export interface DnsCacheOptions {
  /** Names (address, name pairs) kept in all. */
  maxEntries: number;
  minTtlS: number;
  maxTtlS: number;
  maxNamesPerAddress: number;
}

export const DEFAULT_DNS_CACHE: DnsCacheOptions = { maxEntries: 100_000, minTtlS: 60, maxTtlS: 86_400, maxNamesPerAddress: 16 };

interface Name {
  domain: string;
  /** First answer of the current validity span (an answer after expiry starts a new span). */
  firstUs: number;
  lastUs: number;
  expiresUs: number;
}

export class DnsCache {
  /** Insertion order = order of the latest answer per address (re-inserted on every answer). */
  private readonly addresses = new Map<string, Name[]>();
  private readonly options: DnsCacheOptions;
  private names = 0;

  constructor(options: Partial<DnsCacheOptions> = {}) {
    this.options = { ...DEFAULT_DNS_CACHE, ...options };
  }

  /** Names held (address, name pairs). */
  get size(): number {
    return this.names;
  }

  /** Records that `address` was answered for `domain` at `nowUs` with `ttlS`. */
  set(address: string, domain: string, ttlS: number, nowUs: number): void {
    const ttl = Math.min(Math.max(ttlS, this.options.minTtlS), this.options.maxTtlS);
    const expiresUs = nowUs + ttl * 1e6;
    let names = this.addresses.get(address);
    if (names) {
      this.addresses.delete(address); // re-inserted below, at the young end
    } else {
      names = [];
    }
    const known = names.find((n) => n.domain === domain);
    if (known) {
      if (known.expiresUs < nowUs) known.firstUs = nowUs; // expired in between: a new span
      known.lastUs = Math.max(known.lastUs, nowUs);
      known.expiresUs = Math.max(known.expiresUs, expiresUs);
    } else {
      names.push({ domain, firstUs: nowUs, lastUs: nowUs, expiresUs });
      this.names++;
      if (names.length > this.options.maxNamesPerAddress) {
        names.sort((a, b) => a.expiresUs - b.expiresUs);
        names.shift();
        this.names--;
      }
    }
    this.addresses.set(address, names);
    while (this.names > this.options.maxEntries) this.evictOldestAddress();
  }

  /**
   * The name `address` was resolved from at `atUs`: of the names answered by then and valid
   * then, the one answered latest; '' when none. Names expired by then are forgotten.
   */
  get(address: string, atUs: number): string {
    const names = this.addresses.get(address);
    if (!names) return '';
    let best: Name | undefined;
    let bestUs = -Infinity;
    for (const n of names) {
      if (n.firstUs > atUs || n.expiresUs < atUs) continue;
      // the latest answer at or before atUs: lastUs when that is not later, else (a lookup in
      // the past) the span's first answer is the latest one known to precede atUs
      const answeredUs = n.lastUs <= atUs ? n.lastUs : n.firstUs;
      if (answeredUs > bestUs) {
        best = n;
        bestUs = answeredUs;
      }
    }
    this.forgetExpired(address, names, atUs);
    return best?.domain ?? '';
  }

  private forgetExpired(address: string, names: Name[], nowUs: number): void {
    if (!anyExpired(names, nowUs)) return; // most lookups: nothing to forget, nothing allocated
    const kept = names.filter((n) => n.expiresUs >= nowUs);
    if (kept.length === names.length) return;
    this.names -= names.length - kept.length;
    if (kept.length === 0) this.addresses.delete(address);
    else this.addresses.set(address, kept);
  }

  private evictOldestAddress(): void {
    const [address, names] = this.addresses.entries().next().value as [string, Name[]];
    this.addresses.delete(address);
    this.names -= names.length;
  }
}

function anyExpired(names: Name[], nowUs: number): boolean {
  for (let i = 0; i < names.length; i++) if (names[i].expiresUs < nowUs) return true;
  return false;
}
