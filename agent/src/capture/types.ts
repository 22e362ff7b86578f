import type { PacketTime } from '../decode/packet';

/**
 * Receives each captured packet: its bytes are buf[offset, offset + capLen). `buf` and `time`
 * are shared and overwritten after the call returns: use them before returning, copy what
 * must outlive the call. `time.us` is the capture timestamp in epoch microseconds. Nothing is
 * allocated per packet.
 */
export type PacketHandler = (buf: Buffer, offset: number, capLen: number, wireLen: number, time: PacketTime) => void;
