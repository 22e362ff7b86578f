/** Packet capture: live interfaces through libpcap (our addon, packets in batches), capture files in JavaScript (or libpcap with a filter), no per-packet allocation. */
export { openLiveCapture, LIVE_DEFAULTS } from './live';
export type { LiveCapture, LiveCaptureOptions, LiveCaptureStats } from './live';
export { readCaptureFile } from './offline';
export type { CaptureFileSummary, ReadCaptureOptions } from './offline';
export { CaptureFileError } from './errors';
export { inspectCaptureFile, unitsToMicros } from './pcapfile';
export type { FileInspection, CaptureFileProblem } from './pcapfile';
export type { PacketHandler } from './types';
export { libpcapVersion } from './binding';
