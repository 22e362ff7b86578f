/** DNS response parsing (compression, CNAME chains, hostile input) and the TTL cache. */
import { DecodedPacket } from '../src/decode/packet';
import { DnsCache, DnsObserver, DNS_MALFORMED, DNS_NOT_RESPONSE, DNS_OK, parseDnsResponse } from '../src/dns';

/** Minimal DNS message builder; names may end in a compression pointer via {ptr}. */
class Msg {
  bytes: number[] = [];
  u16(v: number) { this.bytes.push(v >> 8, v & 0xff); return this; }
  u32(v: number) { this.u16(v >>> 16); this.u16(v & 0xffff); return this; }
  name(n: string, ptr?: number) {
    const at = this.bytes.length;
    for (const l of n ? n.split('.') : []) this.bytes.push(l.length, ...[...l].map((c) => c.charCodeAt(0)));
    if (ptr !== undefined) this.u16(0xc000 | ptr);
    else this.bytes.push(0);
    return at;
  }
  header(qd: number, an: number, flags = 0x8180) { return this.u16(0x1234).u16(flags).u16(qd).u16(an).u16(0).u16(0); }
  rr(owner: () => void, type: number, ttl: number, rdata: number[] | (() => void)) {
    owner();
    this.u16(type).u16(1).u32(ttl);
    if (Array.isArray(rdata)) { this.u16(rdata.length); this.bytes.push(...rdata); }
    else {
      const lenAt = this.bytes.length;
      this.u16(0);
      const before = this.bytes.length;
      rdata();
      const len = this.bytes.length - before;
      this.bytes[lenAt] = len >> 8; this.bytes[lenAt + 1] = len & 0xff;
    }
    return this;
  }
  buf() { return Uint8Array.from(this.bytes); }
}

function parse(buf: Uint8Array, offset = 0, length = buf.length) {
  const got: [string, string, number][] = [];
  const result = parseDnsResponse(buf, offset, length, (a, d, t) => got.push([a, d, t]));
  return { result, got };
}

function simpleResponse() {
  const m = new Msg().header(1, 1);
  const q = m.name('WWW.Example.com');
  m.u16(1).u16(1);
  m.rr(() => m.name('', q), 1, 300, [93, 184, 216, 34]);
  return m.buf();
}

describe('parseDnsResponse', () => {
  it('reports A answers with the (lower-cased) question name, via a compression pointer', () => {
    expect(parse(simpleResponse())).toEqual({ result: DNS_OK, got: [['93.184.216.34', 'www.example.com', 300]] });
  });

  it('follows CNAME chains back to the question; ignores unrelated owners', () => {
    const m = new Msg().header(1, 5);
    const q = m.name('www.example.com');
    m.u16(1).u16(1);
    let edge = 0, e1 = 0;
    m.rr(() => m.name('', q), 5, 60, () => { edge = m.name('edge.cdn', q + 4); });
    m.rr(() => m.name('', edge), 5, 60, () => { e1 = m.name('e1', edge + 5); });
    m.rr(() => m.name('', e1), 1, 20, [1, 2, 3, 4]);
    m.rr(() => m.name('', e1), 28, 30, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    m.rr(() => m.name('other.net'), 1, 20, [5, 6, 7, 8]);
    const { result, got } = parse(m.buf());
    expect(result).toBe(DNS_OK);
    expect(got).toEqual([['1.2.3.4', 'www.example.com', 20], ['2001:db8::1', 'www.example.com', 30]]);
  });

  it('ignores queries', () => {
    const m = new Msg().header(1, 0, 0x0100);
    m.name('example.com');
    m.u16(1).u16(1);
    expect(parse(m.buf()).result).toBe(DNS_NOT_RESPONSE);
  });

  it('rejects pointer loops and forward pointers without throwing', () => {
    const self = new Msg().header(1, 0);
    self.name('', 12); // pointer to itself
    self.u16(1).u16(1);
    expect(parse(self.buf()).result).toBe(DNS_MALFORMED);

    const fwd = new Msg().header(1, 0);
    fwd.name('a', 40);
    fwd.u16(1).u16(1);
    expect(parse(fwd.buf()).result).toBe(DNS_MALFORMED);

    // two names pointing at each other
    const m = new Msg().header(2, 0);
    m.name('', 20);
    m.u16(1).u16(1);
    m.name('', 12);
    m.u16(1).u16(1);
    expect(parse(m.buf()).result).toBe(DNS_MALFORMED);
  });

  it('handles every truncation and an offset inside a larger buffer', () => {
    const full = simpleResponse();
    for (let len = 0; len < full.length; len++) {
      expect(parse(full, 0, len).result).toBe(DNS_MALFORMED);
    }
    const padded = new Uint8Array(full.length + 20);
    padded.set(full, 7);
    expect(parse(padded, 7, full.length).got).toEqual([['93.184.216.34', 'www.example.com', 300]]);
  });

  it('never throws on random bytes or bit flips', () => {
    let seed = 7;
    const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed >>> 24; };
    const base = simpleResponse();
    for (let i = 0; i < 3000; i++) {
      const buf = i % 2 ? Uint8Array.from({ length: rnd() }, rnd) : base.map((b) => (rnd() < 20 ? rnd() : b));
      if (buf.length >= 3) buf[2] |= 0x80; // mostly "responses"
      expect(() => parse(buf)).not.toThrow();
    }
  });
});

describe('DnsCache', () => {
  const S = 1e6;
  it('clamps TTLs and expires entries by packet time', () => {
    const c = new DnsCache({ minTtlS: 60, maxTtlS: 3600 });
    c.set('1.2.3.4', 'a.example', 5, 0);
    c.set('5.6.7.8', 'b.example', 100000, 0);
    expect(c.get('1.2.3.4', 59 * S)).toBe('a.example');
    expect(c.get('1.2.3.4', 61 * S)).toBe('');
    expect(c.get('5.6.7.8', 3599 * S)).toBe('b.example');
    expect(c.get('5.6.7.8', 3601 * S)).toBe('');
  });
  it('is bounded: the oldest entry goes first', () => {
    const c = new DnsCache({ maxEntries: 3 });
    for (let i = 0; i < 5; i++) c.set(`10.0.0.${i}`, `h${i}`, 300, 0);
    expect(c.size).toBe(3);
    expect(c.get('10.0.0.1', 0)).toBe('');
    expect(c.get('10.0.0.4', 0)).toBe('h4');
  });
  it('an address shared by several names keeps each within its TTL; the latest valid one before the time wins', () => {
    const c = new DnsCache({ minTtlS: 60 });
    c.set('104.16.0.1', 'a.example', 300, 10 * S);
    c.set('104.16.0.1', 'b.example', 60, 20 * S);
    expect(c.size).toBe(2);
    expect(c.get('104.16.0.1', 5 * S)).toBe(''); // before any answer
    expect(c.get('104.16.0.1', 15 * S)).toBe('a.example'); // b was not answered yet
    expect(c.get('104.16.0.1', 25 * S)).toBe('b.example'); // latest
    expect(c.get('104.16.0.1', 81 * S)).toBe('a.example'); // b expired, a still valid
    expect(c.size).toBe(1); // the expired name is forgotten
    expect(c.get('104.16.0.1', 311 * S)).toBe('');
    expect(c.size).toBe(0);
  });
  it('an answer after a name expired starts a new validity span; a re-answer in time extends it', () => {
    const c = new DnsCache({ minTtlS: 60 });
    c.set('1.1.1.1', 'x.example', 60, 0);
    c.set('1.1.1.1', 'x.example', 60, 50 * S);
    expect(c.get('1.1.1.1', 100 * S)).toBe('x.example'); // extended to 110 s
    c.set('1.1.1.1', 'x.example', 60, 200 * S); // expired at 110 s: a new span from 200 s
    expect(c.get('1.1.1.1', 150 * S)).toBe('');
    expect(c.get('1.1.1.1', 200 * S)).toBe('x.example');
  });
  it('bounds the names per address (the one expiring first goes) and counts names against maxEntries', () => {
    const c = new DnsCache({ maxNamesPerAddress: 2, maxEntries: 3 });
    c.set('9.9.9.9', 'long.example', 3600, 0);
    c.set('9.9.9.9', 'short.example', 60, 1 * S);
    c.set('9.9.9.9', 'mid.example', 600, 2 * S);
    expect(c.size).toBe(2);
    expect(c.get('9.9.9.9', 3 * S)).toBe('mid.example');
    c.set('8.8.8.8', 'other.example', 600, 4 * S);
    c.set('7.7.7.7', 'third.example', 600, 5 * S); // 4 names > 3: the address answered longest ago goes
    expect(c.size).toBe(2);
    expect(c.get('9.9.9.9', 6 * S)).toBe('');
    expect(c.get('7.7.7.7', 6 * S)).toBe('third.example');
  });
});

describe('DnsObserver', () => {
  function pkt(protocol: number, srcPort: number, payload: Uint8Array, offset = 42) {
    const buf = new Uint8Array(offset + payload.length);
    buf.set(payload, offset);
    const p = new DecodedPacket();
    p.protocol = protocol;
    p.srcPort = srcPort;
    p.dstPort = 40000;
    p.payloadOffset = offset;
    p.payloadLength = payload.length;
    p.tsUs = 1000;
    p.hasTransport = true;
    return { p, buf };
  }
  it('learns from UDP/53 responses and whole-message TCP/53 segments, counts malformed', () => {
    const o = new DnsObserver();
    const msg = simpleResponse();
    const udp = pkt(17, 53, msg);
    o.observe(udp.p, udp.buf);
    expect(o.domain('93.184.216.34', 2000)).toBe('www.example.com');

    const framed = new Uint8Array(msg.length + 2);
    framed[0] = msg.length >> 8; framed[1] = msg.length & 0xff; framed.set(msg, 2);
    const o2 = new DnsObserver();
    const t = pkt(6, 53, framed);
    o2.observe(t.p, t.buf);
    expect(o2.domain('93.184.216.34', 2000)).toBe('www.example.com');
    const split = pkt(6, 53, framed.subarray(0, framed.length - 3));
    const o3 = new DnsObserver();
    o3.observe(split.p, split.buf);
    expect(o3.stats).toEqual({ responses: 0, malformed: 0, addresses: 0 });

    const bad = pkt(17, 53, msg.subarray(0, 20));
    o.observe(bad.p, bad.buf);
    expect(o.stats).toEqual({ responses: 1, malformed: 1, addresses: 1 });
  });
});
