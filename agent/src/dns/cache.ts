/**
 * Bounded address -> domain cache filled from DNS answers seen on the wire. TTLs are clamped
 * (a 5-second TTL would forget the name before the connection it announced even starts;
 * day-long ones would keep stale names), the oldest entry goes when the cache is full, and
 * time is packet time so imports behave like live capture.
 */
export interface DnsCacheOptions {
  maxEntries: number;
  minTtlS: number;
  maxTtlS: number;
}

export const DEFAULT_DNS_CACHE: DnsCacheOptions = { maxEntries: 100_000, minTtlS: 60, maxTtlS: 86_400 };

interface Entry {
  domain: string;
  expiresUs: number;
}

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly options: DnsCacheOptions;

  constructor(options: Partial<DnsCacheOptions> = {}) {
    this.options = { ...DEFAULT_DNS_CACHE, ...options };
  }

  get size(): number {
    return this.entries.size;
  }

  set(address: string, domain: string, ttlS: number, nowUs: number): void {
    const ttl = Math.min(Math.max(ttlS, this.options.minTtlS), this.options.maxTtlS);
    this.entries.delete(address); // re-insert at the young end
    this.entries.set(address, { domain, expiresUs: nowUs + ttl * 1e6 });
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** The domain `address` was last resolved from, '' when unknown or expired. */
  get(address: string, nowUs: number): string {
    const e = this.entries.get(address);
    if (!e) return '';
    if (e.expiresUs < nowUs) {
      this.entries.delete(address);
      return '';
    }
    return e.domain;
  }
}
