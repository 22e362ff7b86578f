/** Packet capture: live interfaces and capture files through libpcap, one shared buffer, no per-packet allocation. */
export { openLiveCapture, LIVE_DEFAULTS } from './live';
export type { LiveCapture, LiveCaptureOptions, LiveCaptureStats } from './live';
export { readCaptureFile } from './offline';
export type { CaptureFileSummary, ReadCaptureOptions } from './offline';
export { CaptureFileError, inspectCaptureFile } from './filecheck';
export type { FileInspection, FileProblem } from './filecheck';
export type { PacketHandler } from './types';
export { pcapBinding } from './binding';
