/**
 * Runs one agent measurement in a fresh process (so runs do not share JIT state, heap or
 * page cache accounting) and prints one JSON line on stdout:
 *
 *   read FILE              the agent's JavaScript file reader, handler does nothing (the ceiling of import)
 *   read-libpcap FILE      the same through libpcap and the `pcap` binding (the ceiling for anything
 *                          built on the binding, which calls into JavaScript once per packet)
 *   table FILE MAX_FLOWS   decode + flow table (+ DNS observer), records counted by a null sink;
 *                          also the peak RSS while the table holds its flows (before the final flush)
 *
 * Times are measured inside the process around the work itself (module loading excluded).
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { agent, type FlowRecordLike, type FlowSinkLike } from '../agent';

function peakRssBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

async function readOnly(file: string, libpcap: boolean): Promise<object> {
  const { readCaptureFile } = agent.capture();
  let packets = 0;
  const started = process.hrtime.bigint();
  const summary = await readCaptureFile(file, { libpcap }, () => {
    packets++;
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { packets: summary.packets, handled: packets, wireBytes: summary.bytes, seconds, peakRssBytes: peakRssBytes() };
}

/** Counts what leaves the flow table: connections (seq 0 records), records, IP bytes and packets. */
class CountingSink implements FlowSinkLike {
  flows = 0;
  records = 0;
  bytes = 0;
  packets = 0;
  write(record: FlowRecordLike): void {
    this.records++;
    if (record.seq === 0) this.flows++;
    this.bytes += record.bytes_tx + record.bytes_rx;
    this.packets += record.packets_tx + record.packets_rx;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

async function table(file: string, maxFlows: number): Promise<object> {
  const { Pipeline } = agent.pipeline();
  const sink = new CountingSink();
  const pipeline = new Pipeline(
    {
      node: 'bench',
      maxFlows,
      timeouts: agent.timeouts(),
      dns: { enabled: true },
      inventory: agent.inventory(),
      localAddresses: agent.localAddresses(),
      logger: pino({ level: 'silent' }),
      progress: false,
    },
    sink,
  );
  const started = process.hrtime.bigint();
  await pipeline.importFile(file);
  const activeFlows = pipeline.table.stats.activeFlows;
  const rssWithFlows = peakRssBytes();
  await pipeline.finish();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const summary = pipeline.summary();
  return {
    packets: summary.packets, decoded: summary.decoded, malformed: summary.malformed, skipped: summary.skipped,
    flows: sink.flows, records: sink.records, ipBytes: sink.bytes, recordPackets: sink.packets, evictions: summary.evictions,
    activeFlowsAtEnd: activeFlows, peakRssWithFlowsBytes: rssWithFlows, seconds, peakRssBytes: peakRssBytes(),
  };
}

async function main(): Promise<void> {
  const [mode, file, extra] = process.argv.slice(2);
  let result: object;
  switch (mode) {
    case 'read':
      result = await readOnly(file, false);
      break;
    case 'read-libpcap':
      result = await readOnly(file, true);
      break;
    case 'table':
      result = await table(file, Number(extra ?? 262144));
      break;
    default:
      throw new Error(`unknown worker mode '${mode}' (read | read-libpcap | table)`);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`agent-worker: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
