/**
 * The bench's view of the built agent (agent/dist, compiled by tsc exactly as users run it).
 * The agent publishes no type declarations, so the few parts the bench drives in-process
 * are typed here, narrowly; a mismatch shows up as a clear error when the worker starts.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_DIST } from './paths';

export interface FlowRecordLike {
  flow_id: string;
  seq: number;
  bytes_tx: number;
  bytes_rx: number;
  packets_tx: number;
  packets_rx: number;
}

export interface FlowSinkLike {
  write(record: FlowRecordLike): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface PipelineLike {
  importFile(path: string, filter?: string): Promise<void>;
  finish(): Promise<void>;
  startLive(options: { snapLen?: number; bufferSize?: number; bufferTimeoutMs?: number; promiscuous?: boolean }, interfaces: string[]): {
    captures: { stats(): { received: number; kernelDrops: number; interfaceDrops: number; delivered: number } }[];
    stop(): Promise<void>;
  };
  readonly table: { stats: { activeFlows: number; flowsCreated: number; recordsEmitted: number; evictions: number } };
  summary(): { packets: number; decoded: number; flows: number; records: number; evictions: number; malformed: number; skipped: number };
}

interface PipelineModule {
  Pipeline: new (options: Record<string, unknown>, sink: FlowSinkLike) => PipelineLike;
}

type PacketHandler = (buf: Buffer, offset: number, capLen: number, wireLen: number, time: { us: number }) => void;

interface CaptureModule {
  readCaptureFile(path: string, options: { filter?: string; libpcap?: boolean }, onPacket: PacketHandler): Promise<{ packets: number; bytes: number }>;
  openLiveCapture(options: { interface: string; promiscuous?: boolean }, onPacket: PacketHandler): { stats(): { received: number; kernelDrops: number; delivered: number }; close(): void };
}

function load<T>(relative: string): T {
  const file = join(AGENT_DIST, relative);
  if (!existsSync(file)) throw new Error(`${file} is missing: build the agent first (npm run build -w agent)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as T;
}

export const agent = {
  capture: () => load<CaptureModule>('capture/index.js'),
  pipeline: () => load<PipelineModule>('pipeline/index.js'),
  timeouts: () => load<{ DEFAULT_TIMEOUTS: Record<string, number> }>('flowtable/flowTable.js').DEFAULT_TIMEOUTS,
  inventory: () => load<{ Inventory: { empty(): unknown } }>('inventory/index.js').Inventory.empty(),
  localAddresses: () => load<{ LocalAddresses: { of(entries: string[]): unknown } }>('flow/direction.js').LocalAddresses.of([]),
  schemaVersion: () => load<{ SCHEMA_VERSION: number }>('store/migrations.js').SCHEMA_VERSION,
};

/** True when the agent's CLI has a command (e.g. gen-pcap, which lands separately). */
export function agentHasFile(relative: string): boolean {
  return existsSync(join(AGENT_DIST, relative));
}
