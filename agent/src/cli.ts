#!/usr/bin/env node
/**
 * flowmesh-agent command line: `run` (live capture -> store + API), `import FILE...`
 * (capture files through the same pipeline), `serve` (API over an existing database) and
 * `gen-pcap` (synthetic captures with ground truth).
 *
 * Exit codes: 0 ok, 1 runtime error (message on stderr), 2 usage or configuration error
 * (including a capture refused for a missing capability).
 */
import { mkdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import { Command, CommanderError } from 'commander';
import type { Logger } from 'pino';
import { captureInterfaces, ConfigError, flowTimeouts, httpOptions, loadConfig, storeOptions, type AgentConfig, type ConfigOverrides } from './config';
import { HttpOptionsError } from './http/options';
import { libpcapVersion } from './capture';
import { createLogger } from './log';
import { Inventory, InventoryError, readWireGuardPeers } from './inventory';
import { LocalAddresses } from './flow/direction';
import { LiveFlows } from './live';
import { ConntrackFeed, NatTable, natLinkingAvailable } from './nat';
import { formatSummary, Pipeline, type PipelineSummary } from './pipeline';
import { JsonLinesSink, teeSink } from './sinks/jsonl';
import type { FlowSink } from './model/flow';
import type { AgentService } from './server/service';
import type { DropReason, FlowStore, StoreCounters } from './store/flow-store';
import { registerGenPcapCommand } from './synth';
import { CapturePermissionError, explainCaptureOpenError, missingCaptureCapabilities } from './capture/privileges';

interface CommonFlags {
  config?: string;
  node?: string;
  dataDir?: string;
  listen?: string;
  token?: string;
  inventory?: string;
  logLevel?: string;
  localAddress?: string[];
  db?: string;
  jsonl?: string;
}

// Loaded on demand: DuckDB and the API stack take about a second to load, and imports to
// JSON lines need neither.
/* eslint-disable @typescript-eslint/no-require-imports */
const loadStore = () => require('./store/flow-store') as typeof import('./store/flow-store');
const loadService = () => require('./server/service') as typeof import('./server/service');
/* eslint-enable @typescript-eslint/no-require-imports */

const collect = (value: string, previous: string[] = []) => [...previous, value];

function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'config file (YAML or JSON)')
    .option('--node <name>', 'name of this node in every record (default: host name)')
    .option('--data-dir <dir>', 'directory for the database (store.data_dir)')
    .option('--listen <host:port>', 'query API and /metrics address (http.listen)')
    .option('--token <token>', 'API bearer token (http.token; or FLOWMESH_TOKEN)')
    .option('--inventory <file>', 'inventory file naming addresses and WireGuard peers')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--local-address <cidr>', "address or CIDR counted as this node's own (repeatable)", collect);
}

function overridesFrom(flags: CommonFlags, extra: ConfigOverrides = {}): ConfigOverrides {
  return {
    node: flags.node,
    'store.data_dir': flags.dataDir,
    'store.path': flags.db,
    'http.listen': flags.listen,
    'http.token': flags.token,
    inventory: flags.inventory,
    log_level: flags.logLevel,
    ...extra,
  };
}

function configure(flags: CommonFlags, extra: ConfigOverrides = {}): AgentConfig {
  const config = loadConfig(flags.config, overridesFrom(flags, extra));
  if (flags.localAddress?.length) config.local_addresses = [...config.local_addresses, ...flags.localAddress];
  return config;
}

function loadInventory(config: AgentConfig): Inventory {
  return config.inventory ? Inventory.fromFile(config.inventory) : Inventory.empty();
}

function localAddresses(config: AgentConfig, includeHost: boolean): LocalAddresses {
  try {
    return includeHost ? LocalAddresses.fromHost(config.local_addresses) : LocalAddresses.of(config.local_addresses);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

function newPipeline(config: AgentConfig, sink: FlowSink, logger: Logger, local: LocalAddresses, inventory: Inventory, nat?: NatTable): Pipeline {
  return new Pipeline({
    node: config.node,
    maxFlows: config.flows.max_flows,
    timeouts: flowTimeouts(config),
    dns: { enabled: config.dns.enabled, cache: { maxEntries: config.dns.cache_size, minTtlS: config.dns.min_ttl_s, maxTtlS: config.dns.max_ttl_s } },
    inventory,
    localAddresses: local,
    ...(nat ? { nat } : {}),
    logger,
  }, sink);
}

/**
 * NAT linking for `run`: a NatTable fed by conntrack when nat_linking allows it here. A
 * translated connection stays linkable for the longest time the flow table may still emit
 * a record of it after conntrack forgot it (the longest idle timeout, plus a minute).
 */
async function startNatLinking(config: AgentConfig, logger: Logger): Promise<{ table: NatTable; feed: ConntrackFeed } | undefined> {
  let decision: { start: boolean; reason: string };
  try {
    decision = await natLinkingAvailable(config.nat_linking.mode);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  logger.info({ natLinking: decision.start, reason: decision.reason }, decision.start ? 'NAT linking on (conntrack)' : 'NAT linking off');
  if (!decision.start) return undefined;
  const timeouts = flowTimeouts(config);
  const longestIdleS = Math.max(timeouts.tcpEstablishedS, timeouts.tcpUnestablishedS, timeouts.udpS, timeouts.icmpS, timeouts.otherS);
  const table = new NatTable({ maxConnections: config.nat_linking.max_connections, graceMs: (longestIdleS + 60) * 1000 });
  const feed = new ConntrackFeed(table, logger);
  await feed.start();
  return { table, feed };
}

function ensureParentDir(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
}

function reportSummary(logger: Logger, summary: PipelineSummary): void {
  if (process.stderr.isTTY) process.stderr.write(formatSummary(summary) + '\n');
  else logger.info({ summary }, 'done');
}

async function importCommand(files: string[], flags: CommonFlags & { filter?: string }): Promise<void> {
  const config = configure(flags);
  const logger = createLogger(config.log_level, { name: 'flowmesh-agent' });
  const inventory = loadInventory(config);
  // a capture file usually comes from another host: only configured addresses are "local"
  const local = localAddresses(config, false);
  const sinks: FlowSink[] = [];
  if (flags.jsonl) sinks.push(new JsonLinesSink(flags.jsonl));
  let store: FlowStore | undefined;
  if (flags.db || !flags.jsonl) {
    const options = storeOptions(config);
    ensureParentDir(options.path);
    const { FlowStore } = loadStore();
    store = await FlowStore.open({ ...options, logger });
    sinks.push(store);
  }
  const sink = sinks.length === 1 ? sinks[0] : teeSink(...sinks);
  const pipeline = newPipeline(config, sink, logger, local, inventory);
  const interrupt = interruptOnSignals(logger);
  let failure: unknown;
  try {
    for (const file of files) await pipeline.importFile(file, flags.filter ?? config.capture.filter, interrupt.signal);
  } catch (err) {
    failure = err;
  }
  // Flows seen before a failure or an interruption are kept: the import waits until the store
  // has written them (while it cannot write: until it can, or until interrupted), then reports.
  try {
    await pipeline.finish(interrupt.signal);
  } catch (err) {
    failure ??= err;
  }
  await sink.close();
  interrupt.dispose();
  reportSummary(logger, pipeline.summary());
  if (failure) throw failure;
  if (store) throwIfRecordsLost(store.counters(), ['full', 'shutdown']);
}

/** Records the store had to drop for these reasons fail the command (run: only those lost at exit). */
function throwIfRecordsLost(counters: StoreCounters, reasons: DropReason[]): void {
  const lost = reasons.reduce((sum, reason) => sum + counters.dropped[reason], 0);
  if (lost === 0) return;
  const why = reasons.map((reason) => `${counters.dropped[reason].toLocaleString('en')} ${DROP_TEXT[reason]}`).join(', ');
  throw new Error(`${lost.toLocaleString('en')} flow records could not be stored and were dropped (${why}); last store error: ${counters.lastError ?? 'none'}`);
}

const DROP_TEXT: Record<DropReason, string> = {
  full: 'while the backlog and spill were full', invalid: 'invalid', shutdown: 'still held at exit, no spill room',
};

/** An import stopped by a signal: exit code 128 + the signal number, as shells report it. */
class InterruptedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`import interrupted by ${signal}; the flows read before it were stored`);
  }
}

/**
 * SIGINT/SIGTERM during an import stop reading at the next chunk; the flows read so far are
 * still stored. A second signal exits at once.
 */
function interruptOnSignals(logger: Logger): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    logger.warn({ signal }, 'interrupted: storing the flows read so far (signal again to quit at once)');
    controller.abort(new InterruptedError(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function runCommand(flags: CommonFlags & { interface?: string[]; filter?: string; snapLength?: string; promiscuous?: boolean }): Promise<void> {
  const config = configure(flags, {
    // --interface (repeatable) replaces both keys of the file
    ...(flags.interface?.length ? { 'capture.interface': null, 'capture.interfaces': flags.interface } : {}),
    'capture.filter': flags.filter,
    'capture.snap_length': flags.snapLength === undefined ? undefined : Number(flags.snapLength),
    'capture.promiscuous': flags.promiscuous,
  });
  const logger = createLogger(config.log_level, { name: 'flowmesh-agent' });
  const inventory = loadInventory(config);
  const local = localAddresses(config, true);
  const capture = config.capture;
  const interfaces = captureInterfaces(config, flags.config ? `config ${flags.config}` : 'config');

  let service: AgentService | undefined;
  const sinks: FlowSink[] = [];
  if (flags.jsonl) sinks.push(new JsonLinesSink(flags.jsonl));
  if (flags.db || !flags.jsonl) {
    const store = storeOptions(config);
    ensureParentDir(store.path);
    service = await loadService().startAgentService({
      node: config.node,
      http: httpOptions(config),
      store,
      interfaces,
      localAddresses: () => local.list(),
      logger,
    });
    sinks.push(service.sink);
  }
  const sink = sinks.length === 1 ? sinks[0] : teeSink(...sinks);
  let nat: Awaited<ReturnType<typeof startNatLinking>>;
  try {
    nat = await startNatLinking(config, logger);
  } catch (err) {
    await sink.close();
    if (service) await service.close();
    throw err;
  }
  const pipeline = newPipeline(config, sink, logger, local, inventory, nat?.table);

  // interface addresses and WireGuard peers change while the agent runs
  const refreshPeers = async () => {
    local.refreshHost();
    await Promise.all(interfaces.map(async (name, point) => {
      const peers = await readWireGuardPeers(name);
      if (!peers) return;
      const named = inventory.addWireGuardPeers(peers);
      pipeline.setPeerRoutes(point, inventory.routesOf(peers));
      logger.debug({ interface: name, peers: peers.length, named }, 'WireGuard peers read');
    }));
  };
  if (inventory.peers.size > 0 && missingCaptureCapabilities().includes('CAP_NET_ADMIN')) {
    logger.warn({ interfaces }, "missing capability CAP_NET_ADMIN: kernel WireGuard peers cannot be read ('wg show'), so peers are named by address only");
  }
  await refreshPeers();
  const peerTimer = setInterval(() => void refreshPeers(), 60_000);
  peerTimer.unref();

  let live;
  try {
    live = pipeline.startLive({
      filter: capture.filter,
      snapLen: capture.snap_length,
      bufferSize: capture.buffer_size_mb * 1024 * 1024,
      promiscuous: capture.promiscuous,
      bufferTimeoutMs: capture.buffer_timeout_ms,
    }, interfaces);
  } catch (err) {
    clearInterval(peerTimer);
    nat?.feed.stop();
    await sink.close();
    if (service) await service.close();
    // a missing capability refuses the first interface opened (the same for every interface)
    throw explainCaptureOpenError(err, interfaces[0]);
  }
  const captures = live.captures;
  if (service) {
    // include_open queries read the flow table (one for every captured interface) and the store's unwritten records
    service.engine.attachLive(new LiveFlows(pipeline.table, service.store, service.options.live_max_records));
    service.metrics.setProviders({
      ...pipeline.metricsProviders(),
      capture: {
        captureStats: () => captures.map((c) => {
          const s = c.stats();
          return { interface: c.interface, received: s.received, kernelDrops: s.kernelDrops, ifDrops: s.interfaceDrops };
        }),
      },
      ...(nat ? { nat: { natStats: () => ({ ...nat.table.stats, ...nat.feed.stats }) } } : {}),
    });
  }
  logger.info({
    interfaces: captures.map((c) => ({ interface: c.interface, linkType: c.linkType })), natLinking: Boolean(nat), libpcap: libpcapVersion(),
    node: config.node, api: service?.address,
  }, 'capturing');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping: flushing flows');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  clearInterval(peerTimer);
  try {
    await live.stop();
  } catch (err) {
    // the store still holds what it could not write: closing it spills or counts those
    logger.error({ err }, 'could not write every record while stopping');
  }
  nat?.feed.stop();
  await sink.close();
  if (service) await service.close();
  const stats = captures.map((c) => c.stats());
  // `capture` sums the interfaces (what one interface alone reported); `interfaces` has each
  const total = Object.fromEntries(Object.keys(stats[0]).map((k) => [k, stats.reduce((sum, st) => sum + st[k as keyof typeof st], 0)]));
  const cpu = process.cpuUsage();
  logger.info({
    summary: pipeline.summary(), capture: total, interfaces: Object.fromEntries(captures.map((c, i) => [c.interface, stats[i]])),
    cpuSeconds: (cpu.user + cpu.system) / 1e6, // the whole run, every thread, the store's last flush and checkpoint included
  }, 'stopped');
  if (service) throwIfRecordsLost(service.store.counters(), ['shutdown']);
}

async function serveCommand(flags: CommonFlags): Promise<void> {
  const config = configure(flags);
  const logger = createLogger(config.log_level, { name: 'flowmesh-agent' });
  const store = storeOptions(config);
  ensureParentDir(store.path);
  const service = await loadService().startAgentService({ node: config.node, http: httpOptions(config), store, interfaces: [], logger });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await service.close();
}

export function buildProgram(): Command {
  const program = new Command('flowmesh-agent')
    .description('Flowmesh node agent: flow logs for mesh networks')
    .showHelpAfterError()
    .exitOverride();

  addCommonOptions(program.command('run').description('capture live on an interface into the store; serve the query API and /metrics'))
    .option('--interface <if>', 'interface to capture on, repeatable (capture.interfaces; default any)', collect)
    .option('--filter <bpf>', 'BPF capture filter (capture.filter)')
    .option('--snap-length <bytes>', 'bytes captured per packet (capture.snap_length)')
    .option('--promiscuous', 'capture in promiscuous mode')
    .option('--db <path>', 'DuckDB file (store.path)')
    .option('--jsonl <file>', 'also write records as JSON lines (- = stdout); alone, instead of the store and API')
    .action((flags) => runCommand(flags));

  addCommonOptions(program.command('import').description('read pcap/pcapng files through the flow pipeline, then print a summary'))
    .argument('<files...>', 'capture files (flows continue across files, in the order given)')
    .option('--filter <bpf>', 'BPF filter applied while reading')
    .option('--db <path>', 'DuckDB file to write (default <data-dir>/flows.duckdb unless --jsonl is given)')
    .option('--jsonl <file>', 'write records as JSON lines (- = stdout)')
    .action((files: string[], flags) => importCommand(files, flags));

  addCommonOptions(program.command('serve').description('serve the query API and /metrics over an existing database, without capturing'))
    .option('--db <path>', 'DuckDB file (store.path)')
    .action((flags) => serveCommand(flags));

  registerGenPcapCommand(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  // a missing capability is a deployment error that restarting will not fix
  if (err instanceof ConfigError || err instanceof InventoryError || err instanceof HttpOptionsError || err instanceof CapturePermissionError) {
    return 2;
  }
  if (err instanceof InterruptedError) return 128 + osConstants.signals[err.signal];
  return 1;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    const code = exitCodeFor(err);
    if (!(err instanceof CommanderError)) process.stderr.write(`flowmesh-agent: ${(err as Error).message ?? String(err)}\n`);
    return code;
  }
}

if (require.main === module) {
  // exit explicitly with the command's code, whatever handle a library may leave open
  void main().then((code) => process.exit(code));
}
