/**
 * Receives each captured packet. `buf` is the capture's one shared buffer, overwritten by
 * the next packet: use it before returning, copy what must outlive the call. `tsUs` is the
 * capture timestamp in epoch microseconds. Nothing is allocated per packet.
 */
export type PacketHandler = (buf: Buffer, capLen: number, wireLen: number, tsUs: number) => void;
