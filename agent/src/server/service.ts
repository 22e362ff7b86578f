/**
 * Service composition: opens the flow store, puts the query engine on it, builds metrics and
 * the HTTP API, and listens. Used by the CLI for `serve` (store + API) and `run` (the
 * capture pipeline writes into `sink`, then the same API). Shutdown order is the reverse:
 * stop taking requests and let running queries finish (bounded), then close the store,
 * which flushes what it holds.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FlowSink } from '../model/flow';
import { API_VERSION } from '../model/query';
import { buildHttpApi } from '../http/app';
import type { AgentInfo } from '../http/info';
import { assertSafeListen, loadTls, parseListen, resolveHttpOptions, type HttpOptions } from '../http/options';
import { AgentMetrics, meteredSink, type MetricsOptions, type MetricsProviders, type StoreStatsProvider } from '../metrics';
import { QueryEngine } from '../query';
import { FlowStore } from '../store/flow-store';
import type { StoreOptionsInput } from '../store/options';

export interface AgentServiceOptions {
  /** Node name reported in /info (records carry their own `node`). */
  node: string;
  /** Defaults to the agent package version. */
  version?: string;
  http?: Partial<HttpOptions>;
  store: StoreOptionsInput;
  /** Capture, decode and flow-table stats owners; more can be attached later via metrics.setProviders. */
  providers?: Omit<MetricsProviders, 'store'>;
  metrics?: MetricsOptions;
  /** Capture interfaces (empty for `serve`). */
  interfaces?: string[];
  /** This node's addresses (for direction); a function because interfaces change. */
  localAddresses?: () => string[];
  logger?: Logger;
}

export interface AgentService {
  /** Base URL the API answers on, e.g. http://127.0.0.1:9477 */
  address: string;
  port: number;
  store: FlowStore;
  engine: QueryEngine;
  /** Where the capture pipeline writes records: the store, with traffic metrics counted on the way. */
  sink: FlowSink;
  metrics: AgentMetrics;
  options: HttpOptions;
  /** Stops serving, waits for running queries (at most http.shutdown_grace_ms), closes the store. Idempotent. */
  close(): Promise<void>;
}

export function agentVersion(): string {
  const packageFile = path.resolve(__dirname, '../../package.json');
  return (JSON.parse(fs.readFileSync(packageFile, 'utf8')) as { version: string }).version;
}

/** The store's figures in the shape the metrics read at scrape time (no database round trip). */
function storeStatsProvider(store: FlowStore): StoreStatsProvider {
  return {
    storeStats() {
      const counters = store.counters();
      const sizes = store.fileSizes();
      const health = store.health();
      return {
        received: counters.received,
        rowsWritten: counters.rowsWritten,
        backlogRecords: counters.backlog,
        spilledRecords: counters.spilledRecords,
        spillBytes: counters.spillBytes,
        dropped: counters.dropped,
        dbBytes: sizes.dbBytes + sizes.walBytes,
        errors: counters.errors,
        reopens: counters.reopens,
        degraded: { writes_failing: health.writesFailingSince !== null, quarantined_file: health.quarantined.length > 0 },
        quarantinedFiles: health.quarantined.length,
      };
    },
  };
}

function formatAddress(protocol: string, host: string, port: number): string {
  return `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export async function startAgentService(config: AgentServiceOptions): Promise<AgentService> {
  const options = resolveHttpOptions(config.http);
  assertSafeListen(options);
  // Checked before the store is opened, so a TLS mistake stops the agent without touching the database.
  if (options.tls) loadTls(options.tls);
  const { host, port } = parseListen(options.listen);
  const version = config.version ?? agentVersion();
  const startedAt = new Date();

  const store = await FlowStore.open({ ...config.store, ...(config.logger ? { logger: config.logger } : {}) });
  const metrics = new AgentMetrics(config.metrics);
  metrics.setProviders({ ...config.providers, store: storeStatsProvider(store) });
  store.onBatch((seconds) => metrics.observeStoreBatch(seconds));

  const info = async (): Promise<AgentInfo> => {
    const stats = await store.stats();
    const capture = metrics.providers.capture?.captureStats() ?? [];
    return {
      node: config.node,
      version,
      api_version: API_VERSION,
      started_at: startedAt.toISOString(),
      uptime_s: (Date.now() - startedAt.getTime()) / 1000,
      interfaces: config.interfaces ?? [],
      local_addresses: config.localAddresses?.() ?? [],
      capture: capture.map((s) => ({
        interface: s.interface, received: s.received, kernel_drops: s.kernelDrops, if_drops: s.ifDrops,
      })),
      store: {
        path: stats.path,
        db_bytes: stats.dbBytes + stats.walBytes,
        records: stats.storedRecords,
        oldest_us: stats.oldestUs,
        newest_us: stats.newestUs,
        rows_written: stats.rowsWritten,
        backlog_records: stats.backlog,
        backlog_dropped: stats.backlogDropped,
        state: stats.state,
        problems: stats.problems,
        writes_failing_since: stats.writesFailingSince,
        received: stats.received,
        spilled_records: stats.spilledRecords,
        dropped: stats.dropped,
        reopens: stats.reopens,
        quarantined: stats.quarantined.map((q) => ({ path: q.path, bytes: q.bytes, moved_at: q.movedAt })),
      },
      retention: { days: stats.retentionDays },
    };
  };

  const health = () => {
    const h = store.health();
    return { status: h.state, problems: h.problems };
  };

  // The store is the engine's database source: queries follow it when it reopens its file.
  const engine = new QueryEngine(store, {
    maxConcurrent: options.max_concurrent_queries,
    maxQueued: options.max_queued_queries,
    timeoutMs: options.query_timeout_ms,
    rowBudget: options.row_budget,
  });
  let api: Awaited<ReturnType<typeof buildHttpApi>>;
  try {
    api = await buildHttpApi({
      options, backend: engine, metrics, version, info, health, ...(config.logger ? { logger: config.logger } : {}),
    });
    await api.app.listen({ host, port });
  } catch (error) {
    engine.close();
    await store.close();
    throw error;
  }
  const bound = (api.app.server.address() as AddressInfo).port;
  const address = formatAddress(options.tls ? 'https' : 'http', host, bound);
  config.logger?.info({ address, node: config.node, auth: Boolean(options.token), tls: Boolean(options.tls) }, 'agent API listening');

  let closing: Promise<void> | undefined;
  const close = async () => {
    const grace = setTimeout(() => {
      config.logger?.warn({ graceMs: options.shutdown_grace_ms }, 'shutdown grace period over: aborting running queries');
      api.abortQueries();
      api.app.server.closeAllConnections();
    }, options.shutdown_grace_ms);
    try {
      await api.app.close();
    } finally {
      clearTimeout(grace);
      engine.close();
      await store.close();
    }
  };
  return {
    address,
    port: bound,
    store,
    engine,
    sink: meteredSink(store, metrics),
    metrics,
    options,
    close: () => (closing ??= close()),
  };
}
