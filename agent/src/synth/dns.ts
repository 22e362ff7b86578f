/** DNS messages for the generator: one question (A or AAAA) and its answers, as wire bytes. */

function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split('.')) {
    out.push(label.length);
    for (let i = 0; i < label.length; i++) out.push(label.charCodeAt(i));
  }
  out.push(0);
  return out;
}

const u16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

export function dnsQuery(id: number, name: string, qtype: number): Uint8Array {
  return Uint8Array.from([...u16(id), 0x01, 0x00, ...u16(1), 0, 0, 0, 0, 0, 0, ...encodeName(name), ...u16(qtype), ...u16(1)]);
}

/** A response answering `name` with `addresses` (4-byte -> A, 16-byte -> AAAA), names compressed to the question. */
export function dnsResponse(id: number, name: string, qtype: number, addresses: Uint8Array[], ttl: number): Uint8Array {
  const bytes = [...u16(id), 0x81, 0x80, ...u16(1), ...u16(addresses.length), 0, 0, 0, 0, ...encodeName(name), ...u16(qtype), ...u16(1)];
  for (const address of addresses) {
    bytes.push(0xc0, 0x0c, ...u16(address.length === 4 ? 1 : 28), ...u16(1), ...u32(ttl), ...u16(address.length), ...address);
  }
  return Uint8Array.from(bytes);
}
