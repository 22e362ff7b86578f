/**
 * Runs one agent measurement in a fresh process (so runs do not share JIT state, heap or
 * page cache accounting) and prints one JSON line on stdout:
 *
 *   read FILE              the agent's JavaScript file reader, handler does nothing (the ceiling of import)
 *   read-libpcap FILE      the same through libpcap and the agent's capture addon (packets in batches,
 *                          as live capture and filtered imports receive them)
 *   table FILE MAX_FLOWS   decode + flow table (+ DNS observer), records counted by a null sink;
 *                          also the peak RSS while the table holds its flows (before the final flush)
 *   live-capture IFACE     live capture (promiscuous), handler does nothing: the live ceiling
 *   live-table IFACE       live capture into decode + flow table, records counted by a null sink
 *                          (both log "capturing" on stderr once capturing, and at SIGTERM a "stopped"
 *                          line with the capture counters, like `flowmesh-agent run`)
 *
 * Times are measured inside the process around the work itself (module loading excluded): wall
 * seconds and CPU seconds (user + system, all threads).
 */
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { agent, type FlowRecordLike, type FlowSinkLike, type PipelineLike } from '../agent';

function peakRssBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

async function readOnly(file: string, libpcap: boolean): Promise<object> {
  const { readCaptureFile } = agent.capture();
  let packets = 0;
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const summary = await readCaptureFile(file, { libpcap }, () => {
    packets++;
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { packets: summary.packets, handled: packets, wireBytes: summary.bytes, seconds, cpuSeconds: cpuSince(cpu), peakRssBytes: peakRssBytes() };
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

function newPipeline(sink: CountingSink, maxFlows: number): PipelineLike {
  const { Pipeline } = agent.pipeline();
  return new Pipeline(
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
}

async function table(file: string, maxFlows: number): Promise<object> {
  const sink = new CountingSink();
  const pipeline = newPipeline(sink, maxFlows);
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  await pipeline.importFile(file);
  const activeFlows = pipeline.table.stats.activeFlows;
  const rssWithFlows = peakRssBytes();
  await pipeline.finish();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const summary = pipeline.summary();
  return {
    packets: summary.packets, decoded: summary.decoded, malformed: summary.malformed, skipped: summary.skipped,
    flows: sink.flows, records: sink.records, ipBytes: sink.bytes, recordPackets: sink.packets, evictions: summary.evictions,
    activeFlowsAtEnd: activeFlows, peakRssWithFlowsBytes: rssWithFlows, seconds, cpuSeconds: cpuSince(cpu), peakRssBytes: peakRssBytes(),
  };
}

/** Captures until SIGTERM; the counters are logged like the agent's. */
async function live(iface: string, withTable: boolean): Promise<object> {
  let stop: () => Promise<object>;
  if (withTable) {
    const sink = new CountingSink();
    const pipeline = newPipeline(sink, 262144);
    const run = pipeline.startLive({ promiscuous: true }, [iface]);
    stop = async () => {
      await run.stop();
      return { capture: run.captures[0].stats(), records: sink.records };
    };
  } else {
    let packets = 0;
    const capture = agent.capture().openLiveCapture({ interface: iface, promiscuous: true }, () => {
      packets++;
    });
    stop = async () => {
      capture.close();
      return { capture: capture.stats(), handled: packets };
    };
  }
  process.stderr.write(`${JSON.stringify({ msg: 'capturing', interface: iface })}\n`);
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  const result = { ...(await stop()), cpuSeconds: cpuSince({ user: 0, system: 0 }) };
  process.stderr.write(`${JSON.stringify({ msg: 'stopped', ...result })}\n`);
  return result;
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
    case 'live-capture':
    case 'live-table':
      result = await live(file, mode === 'live-table');
      break;
    default:
      throw new Error(`unknown worker mode '${mode}' (read | read-libpcap | table | live-capture | live-table)`);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`agent-worker: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
