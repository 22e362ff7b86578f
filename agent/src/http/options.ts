/**
 * HTTP API options: what the config file / CLI can set for the query API, its defaults,
 * and the listen-address rules (loopback is the only place an agent may listen without a token).
 */
import { isIP } from 'node:net';

export interface HttpOptions {
  /** 'host:port' ('[v6]:port' for IPv6). Port 0 picks a free port. */
  listen: string;
  /** Bearer token; required when listening on anything but loopback. */
  token?: string;
  /** Serve HTTPS from these PEM files. */
  tls?: { cert: string; key: string };
  /** Require the token on /metrics too (default: /metrics is open, like most exporters). */
  metrics_auth: boolean;
  /** Per-query (per page, for CSV export) time limit. */
  query_timeout_ms: number;
  /** Most rows a query may touch or return before it is refused with 413. */
  row_budget: number;
  /** include_open: most open and pending records one query adds (the rest are counted as omitted). */
  live_max_records: number;
  /** Queries running at once (each on its own DuckDB connection). */
  max_concurrent_queries: number;
  /** Queries waiting for a running slot; beyond that a query gets 429 with Retry-After. */
  max_queued_queries: number;
  /** Largest request body accepted (413 beyond). */
  body_limit_bytes: number;
  /** Bound on waiting for in-flight requests on shutdown. */
  shutdown_grace_ms: number;
}

export const HTTP_DEFAULTS: HttpOptions = {
  listen: '127.0.0.1:9477',
  metrics_auth: false,
  query_timeout_ms: 10_000,
  row_budget: 1_000_000,
  live_max_records: 20_000,
  max_concurrent_queries: 4,
  max_queued_queries: 16,
  body_limit_bytes: 1024 * 1024,
  shutdown_grace_ms: 5_000,
};

export function resolveHttpOptions(partial: Partial<HttpOptions> = {}): HttpOptions {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const options = { ...HTTP_DEFAULTS, ...defined } as HttpOptions;
  for (const key of ['query_timeout_ms', 'row_budget', 'live_max_records', 'max_concurrent_queries', 'max_queued_queries',
    'body_limit_bytes', 'shutdown_grace_ms'] as const) {
    const minimum = key === 'max_queued_queries' || key === 'shutdown_grace_ms' ? 0 : 1;
    if (!Number.isInteger(options[key]) || options[key] < minimum) {
      throw new Error(`http.${key} must be an integer >= ${minimum}, got ${String(options[key])}`);
    }
  }
  if (options.token !== undefined && options.token.length === 0) delete options.token;
  return options;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses 'host:port', '[v6]:port' or ':port' (= 127.0.0.1). */
export function parseListen(listen: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new Error(`listen address '${listen}' is not host:port (e.g. 127.0.0.1:9477 or [::1]:9477)`);
  }
  const host = match[1] ?? (match[2] || '127.0.0.1');
  return { host, port };
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./i.test(host) || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** The rule that keeps an unauthenticated API off the network. */
export function assertSafeListen(options: HttpOptions): void {
  const { host } = parseListen(options.listen);
  if (!options.token && !isLoopbackHost(host)) {
    throw new Error(
      `refusing to listen on ${options.listen} without an API token: anyone who can reach it could read every flow. ` +
        'Set a token (--token, FLOWMESH_TOKEN or http.token in the config file) or listen on loopback (127.0.0.1).',
    );
  }
}
