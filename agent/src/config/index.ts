/**
 * Agent configuration: one schema (TypeBox) for the YAML/JSON config file, with every
 * option's default. CLI flags and FLOWMESH_TOKEN override file values; `http.token_file` is
 * read only when no token came from elsewhere. The merged result is validated once and errors
 * name the offending key (e.g. `flows.max_flows: ...`).
 *
 * Sections: node, log_level, capture, flows, local_addresses, inventory, nat_linking, dns,
 * store, http.
 * `store` and `http` map onto the store's and the HTTP API's own option types
 * (StoreOptions, HttpOptions), whose modules own the semantics.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { LOG_LEVELS } from '../log';
import type { FlowTimeouts } from '../flowtable/flowTable';
import type { StoreOptionsInput } from '../store/options';
import { tokenProblem, type HttpOptions } from '../http/options';

export class ConfigError extends Error {}

/** Most interfaces one agent captures. */
export const MAX_INTERFACES = 16;

const section = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, default: {}, description });
const seconds = (def: number, description: string) => Type.Number({ exclusiveMinimum: 0, default: def, description });

export const ConfigSchema = Type.Object(
  {
    node: Type.String({ minLength: 1, description: 'Name of this node in every record (default: the host name)' }),
    log_level: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)), { default: 'info' }),
    capture: section({
      interface: Type.Optional(Type.String({ minLength: 1, description: 'Interface to capture on (wg0, eth0, any); default any' })),
      interfaces: Type.Optional(Type.Array(Type.String({ minLength: 1 }), {
        minItems: 1, maxItems: MAX_INTERFACES, uniqueItems: true,
        description: 'Several interfaces (e.g. the tunnel and the uplink of a gateway); instead of interface',
      })),
      filter: Type.String({ default: '', description: 'BPF filter (tcpdump syntax); empty = everything' }),
      snap_length: Type.Integer({ minimum: 64, maximum: 262144, default: 4096, description: 'Bytes kept per packet (headers and DNS answers)' }),
      buffer_size_mb: Type.Integer({ minimum: 1, maximum: 4096, default: 32, description: 'Kernel capture ring size' }),
      promiscuous: Type.Boolean({ default: false }),
      buffer_timeout_ms: Type.Integer({ minimum: 0, maximum: 10000, default: 100, description: '0 = immediate delivery' }),
    }, 'Live capture (run)'),
    flows: section({
      max_flows: Type.Integer({ minimum: 16, maximum: 16_777_216, default: 262144, description: 'Concurrent flows kept; beyond it the least recently active is evicted' }),
      active_timeout_s: seconds(60, 'Interim record for a flow still active after this long'),
      idle_timeout_s: section({
        tcp: seconds(300, 'Established TCP (both sides sent)'),
        tcp_unestablished: seconds(30, 'TCP before both sides have sent'),
        udp: seconds(60, 'UDP'),
        icmp: seconds(30, 'ICMP and ICMPv6'),
        other: seconds(60, 'Other IP protocols'),
      }, 'Idle timeouts by protocol'),
      tcp_linger_s: seconds(2, 'After FIN from both sides or RST, late packets still join the flow this long'),
    }, 'Flow table'),
    local_addresses: Type.Array(Type.String(), { default: [], description: "Extra addresses/CIDRs counted as this node's own (besides interface addresses)" }),
    inventory: Type.String({ default: '', description: 'Inventory file (YAML/JSON); empty = none' }),
    nat_linking: section({
      mode: Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
        default: 'auto', description: 'Link pre- and post-NAT records from conntrack: auto = when the node forwards IP and conntrack is installed',
      }),
      max_connections: Type.Integer({ minimum: 1, maximum: 16_777_216, default: 262144, description: 'Translated connections remembered' }),
    }, 'NAT linking on gateways (run)'),
    dns: section({
      enabled: Type.Boolean({ default: true, description: 'Annotate destinations with domains from DNS answers seen on the wire' }),
      cache_size: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
      min_ttl_s: Type.Integer({ minimum: 0, default: 60 }),
      max_ttl_s: Type.Integer({ minimum: 1, default: 86_400 }),
    }, 'DNS annotation'),
    store: section({
      data_dir: Type.String({ minLength: 1, default: './flowmesh-data', description: 'Directory for the database' }),
      path: Type.String({ default: '', description: 'DuckDB file; default <data_dir>/flows.duckdb' }),
      retention_days: Type.Number({ minimum: 0, default: 7, description: '0 keeps everything' }),
      batch_size: Type.Optional(Type.Integer({ minimum: 1 })),
      flush_interval_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      max_transaction_records: Type.Optional(Type.Integer({ minimum: 1 })),
      max_backlog: Type.Optional(Type.Integer({ minimum: 1, description: 'Records held in memory while the database cannot be written' })),
      spill_dir: Type.String({ default: '', description: 'Directory for records beyond max_backlog while writes fail; empty = none. Best on another filesystem' }),
      spill_max_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Most space the spill files may take (default 1024)' })),
      maintenance_interval_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      retention_chunk_minutes: Type.Optional(Type.Integer({ minimum: 1 })),
      rollup_interval_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'How often new raw rows are rolled up per minute' })),
      rollup_slice_records: Type.Optional(Type.Integer({ minimum: 1, description: 'Most raw rows rolled up in one transaction' })),
      sync_drain_records: Type.Optional(Type.Integer({ minimum: 1, description: 'Queued records past which write() flushes synchronously' })),
      retry_initial_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      retry_max_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      duckdb: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Extra DuckDB settings' })),
    }, 'Flow store (DuckDB)'),
    http: section({
      listen: Type.String({ default: '127.0.0.1:9477', description: 'host:port of the query API and /metrics' }),
      token: Type.Optional(Type.String({ description: 'Bearer token (or FLOWMESH_TOKEN); required off loopback' })),
      token_file: Type.Optional(Type.String({ minLength: 1, description: 'File holding the bearer token (used when no token is given otherwise)' })),
      tls: Type.Optional(Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }, { additionalProperties: false })),
      metrics_auth: Type.Optional(Type.Boolean()),
      query_timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
      row_budget: Type.Optional(Type.Integer({ minimum: 1 })),
      live_max_records: Type.Optional(Type.Integer({ minimum: 1, description: 'include_open: most open and pending records one query adds' })),
      max_concurrent_queries: Type.Optional(Type.Integer({ minimum: 1 })),
      max_queued_queries: Type.Optional(Type.Integer({ minimum: 0, description: 'Queries that may wait for a slot; beyond that 429' })),
      body_limit_bytes: Type.Optional(Type.Integer({ minimum: 1 })),
      header_timeout_ms: Type.Optional(Type.Integer({ minimum: 1, description: "A request's headers must arrive within this" })),
      request_timeout_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'A whole request (headers and body) must arrive within this' })),
      keep_alive_timeout_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'Idle keep-alive connections close after this' })),
      max_connections: Type.Optional(Type.Integer({ minimum: 1, description: 'Open connections at once' })),
      max_connections_per_client: Type.Optional(Type.Integer({ minimum: 1, description: 'Open connections from one address (IPv6: one /64)' })),
      shutdown_grace_ms: Type.Optional(Type.Integer({ minimum: 0 })),
    }, 'Query API (HTTP)'),
  },
  { additionalProperties: false },
);
export type AgentConfig = Static<typeof ConfigSchema>;

/** Values set from the command line, as dotted config keys (e.g. 'capture.interface'); null removes a key. */
export type ConfigOverrides = Record<string, unknown>;

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${path}: cannot read: ${(err as Error).message}`);
  }
  try {
    const doc = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    if (doc === null || doc === undefined) return {};
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('expected a mapping of sections');
    return doc;
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let o = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = value;
}

function deletePath(target: Record<string, unknown>, dotted: string): void {
  const keys = dotted.split('.');
  let o: unknown = target;
  for (const k of keys.slice(0, -1)) {
    o = (o as Record<string, unknown> | undefined)?.[k];
    if (typeof o !== 'object' || o === null) return;
  }
  delete (o as Record<string, unknown>)[keys[keys.length - 1]];
}

/** First validation error as `key.path: message`. */
function describeError(schema: TSchema, value: unknown, source: string): string | undefined {
  const first = Value.Errors(schema, value).First();
  if (!first) return undefined;
  const key = first.path.replace(/^\//, '').replace(/\//g, '.') || '(top level)';
  let message = first.message;
  if (/additional properties|unexpected property/i.test(message)) message = 'unknown option';
  const choices = (first.schema as { anyOf?: { const?: unknown }[] }).anyOf;
  if (choices?.every((c) => c.const !== undefined)) message = `must be one of ${choices.map((c) => String(c.const)).join(', ')}`;
  const got = first.value === undefined ? '' : ` (got ${JSON.stringify(first.value)})`;
  return `${source}: ${key}: ${message}${got}`;
}

/**
 * Loads the config file (optional), applies overrides and FLOWMESH_TOKEN, fills defaults and
 * validates. @throws ConfigError naming the key.
 */
export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const doc = (file ? readConfigFile(file) : {}) as Record<string, unknown>;
  const source = file ? `config ${file}` : 'config';
  const fileHttp = (typeof doc.http === 'object' && doc.http ? doc.http : {}) as Record<string, unknown>;
  if (fileHttp.token !== undefined && fileHttp.token_file !== undefined) {
    throw new ConfigError(`${source}: http.token_file: set either http.token or http.token_file, not both`);
  }
  // Where the token comes from, for the error message: the command line beats the file, which beats the environment.
  let tokenSource = `${source}: http.token`;
  if (env.FLOWMESH_TOKEN && !('token' in fileHttp)) {
    setPath(doc, 'http.token', env.FLOWMESH_TOKEN);
    tokenSource = 'FLOWMESH_TOKEN';
  }
  if (overrides['http.token'] !== undefined) tokenSource = '--token';
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) deletePath(doc, key);
    else if (value !== undefined) setPath(doc, key, value);
  }
  if (doc.node === undefined) doc.node = hostname();
  const config = Value.Default(ConfigSchema, doc) as AgentConfig;
  const problem = describeError(ConfigSchema, config, source);
  if (problem) throw new ConfigError(problem);
  if (config.dns.min_ttl_s > config.dns.max_ttl_s) throw new ConfigError(`${source}: dns.min_ttl_s: must not exceed dns.max_ttl_s`);
  if (!config.http.token && config.http.token_file !== undefined) tokenSource = `${source}: http.token_file ${config.http.token_file}`;
  resolveTokenFile(config, source);
  const badToken = config.http.token ? tokenProblem(config.http.token) : null;
  if (badToken) throw new ConfigError(`${tokenSource}: the API token ${badToken}`);
  return config;
}

/**
 * The interfaces to capture: capture.interfaces, else [capture.interface], else [any].
 * @throws ConfigError when both keys are set, or `any` is combined with other interfaces
 *   (it already sees every interface: forwarded packets would be counted on both).
 */
export function captureInterfaces(c: AgentConfig, source = 'config'): string[] {
  const { interface: one, interfaces: several } = c.capture;
  if (one !== undefined && several !== undefined) {
    throw new ConfigError(`${source}: capture.interface and capture.interfaces are both set; use one of them`);
  }
  const list = several ?? [one ?? 'any'];
  if (list.length > 1 && list.includes('any')) {
    throw new ConfigError(`${source}: capture.interfaces: "any" cannot be combined with other interfaces (it already captures all of them)`);
  }
  return list;
}

/**
 * `http.token_file` supplies the token when nothing else did (flag, FLOWMESH_TOKEN, http.token):
 * the Debian package keeps the token in a file only the service user can read, so it never
 * appears in the config file, the unit or the process's environment.
 */
function resolveTokenFile(config: AgentConfig, source: string): void {
  const file = config.http.token_file;
  delete config.http.token_file;
  if (file === undefined || config.http.token) return;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${source}: http.token_file: cannot read ${file}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (token === '') throw new ConfigError(`${source}: http.token_file: ${file} is empty`);
  config.http.token = token;
}

export function flowTimeouts(c: AgentConfig): FlowTimeouts {
  const f = c.flows;
  return {
    activeTimeoutS: f.active_timeout_s,
    tcpEstablishedS: f.idle_timeout_s.tcp,
    tcpUnestablishedS: f.idle_timeout_s.tcp_unestablished,
    udpS: f.idle_timeout_s.udp,
    icmpS: f.idle_timeout_s.icmp,
    otherS: f.idle_timeout_s.other,
    tcpLingerS: f.tcp_linger_s,
  };
}

export function storePath(c: AgentConfig): string {
  return c.store.path || join(c.store.data_dir, 'flows.duckdb');
}

export function storeOptions(c: AgentConfig): StoreOptionsInput {
  const s = c.store;
  const optional = {
    batchSize: s.batch_size,
    flushIntervalMs: s.flush_interval_ms,
    maxTransactionRecords: s.max_transaction_records,
    maxBacklog: s.max_backlog,
    spillDir: s.spill_dir || undefined,
    spillMaxBytes: s.spill_max_mb === undefined ? undefined : Math.floor(s.spill_max_mb * 1024 * 1024),
    maintenanceIntervalMs: s.maintenance_interval_ms,
    retentionChunkMinutes: s.retention_chunk_minutes,
    rollupIntervalMs: s.rollup_interval_ms,
    rollupSliceRecords: s.rollup_slice_records,
    syncDrainRecords: s.sync_drain_records,
    retryInitialMs: s.retry_initial_ms,
    retryMaxMs: s.retry_max_ms,
    duckdb: s.duckdb,
  };
  return {
    path: storePath(c),
    retentionDays: s.retention_days,
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
  };
}

export function httpOptions(c: AgentConfig): Partial<HttpOptions> {
  return Object.fromEntries(Object.entries(c.http).filter(([, v]) => v !== undefined)) as Partial<HttpOptions>;
}

/** The defaults as a config document (for `--print-defaults`-style docs and tests). */
export function defaultConfig(): AgentConfig {
  return loadConfig(undefined, {}, {});
}
