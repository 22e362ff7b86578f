/**
 * Receives each captured packet: its bytes are buf[offset, offset + capLen). `buf` is shared
 * and overwritten after the call returns: use it before returning, copy what must outlive
 * the call. `tsUs` is the capture timestamp in epoch microseconds. Nothing is allocated per
 * packet.
 */
export type PacketHandler = (buf: Buffer, offset: number, capLen: number, wireLen: number, tsUs: number) => void;
