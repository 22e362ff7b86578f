/** Synthetic captures with ground truth: deterministic pcap generator for tests and benchmarks. */
export { generateCapture, readTruth } from './generate';
export type { GenerateOptions, GeneratedCapture, CaptureSummary, CaptureTruth, SynthLinkType, TruthFlow, DnsAnswerTruth } from './generate';
export { registerGenPcapCommand } from './cli';
export { SYNTH_LINK_TYPES } from './builder';
