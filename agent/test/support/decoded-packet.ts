/**
 * Test helper: a DecodedPacket as the decoder would have filled it, from addresses written as
 * text and the transport fields a flow-table test cares about (the others stay at the
 * decoder's zero defaults). For feeding a FlowTable without bytes on the wire.
 */
import { DecodedPacket } from '../../src/decode/packet';
import { parseIp } from '../../src/flow/addresses';

export type PacketFields = Partial<
  Pick<DecodedPacket, 'tsUs' | 'protocol' | 'srcPort' | 'dstPort' | 'ipBytes' | 'tcpFlags' | 'payloadLength' | 'icmpType' | 'icmpCode' | 'icmpId'>
>;

export function decodedPacket(src: string, dst: string, fields: PacketFields): DecodedPacket {
  const p = new DecodedPacket();
  const s = parseIp(src)!;
  const d = parseIp(dst)!;
  p.ipVersion = s.version;
  p.srcAddr.set(s.bytes);
  p.dstAddr.set(d.bytes);
  Object.assign(p, fields);
  p.hasTransport = true;
  return p;
}
