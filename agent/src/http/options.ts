/**
 * HTTP API options: what the config file / CLI can set for the query API, its defaults,
 * the listen-address rules (loopback is the only place an agent may listen without a token),
 * what a token may be, and loading the TLS files. Every problem is an HttpOptionsError naming
 * the option (the CLI exits 2 on it, as on any configuration error).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';

/** An HTTP option that cannot work; the message starts with the option's name (e.g. `http.tls.key: ...`). */
export class HttpOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpOptionsError';
  }
}

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
  /** A request's headers must have arrived this long after its connection opened (or the previous answer); 408 and closed beyond. */
  header_timeout_ms: number;
  /** The whole request (headers and body) must have arrived within this; 408 and closed beyond. */
  request_timeout_ms: number;
  /** An idle keep-alive connection is closed after this. */
  keep_alive_timeout_ms: number;
  /** Open connections at once; more are closed as they arrive. */
  max_connections: number;
  /** Open connections from one client address (IPv6: one /64) at once; more are closed as they arrive. */
  max_connections_per_client: number;
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
  max_queued_queries: 256,
  body_limit_bytes: 1024 * 1024,
  header_timeout_ms: 10_000,
  request_timeout_ms: 30_000,
  keep_alive_timeout_ms: 10_000,
  max_connections: 512,
  max_connections_per_client: 384,
  shutdown_grace_ms: 5_000,
};

const COUNTS = ['query_timeout_ms', 'row_budget', 'live_max_records', 'max_concurrent_queries', 'max_queued_queries', 'body_limit_bytes',
  'header_timeout_ms', 'request_timeout_ms', 'keep_alive_timeout_ms', 'max_connections', 'max_connections_per_client',
  'shutdown_grace_ms'] as const;
const MAY_BE_ZERO = new Set<string>(['max_queued_queries', 'shutdown_grace_ms']);

/**
 * Why `token` can never authenticate, or null when it can. A bearer token travels as
 * `Authorization: Bearer <token>`, one run of visible ASCII characters (RFC 6750 b64token is
 * narrower still): with whitespace (a trailing newline from a file, say) or other characters
 * no client could ever send it.
 */
export function tokenProblem(token: string): string | null {
  if (token.trim() === '') return 'is only whitespace, so no client could ever send it; set a real token or leave it empty (loopback only)';
  if (/\s/.test(token)) return 'contains whitespace (a trailing newline from a file?), which a bearer token cannot carry; remove it';
  if (!/^[\x21-\x7e]+$/.test(token)) return 'may only hold visible ASCII characters (letters, digits and punctuation)';
  return null;
}

export function resolveHttpOptions(partial: Partial<HttpOptions> = {}): HttpOptions {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined));
  const options = { ...HTTP_DEFAULTS, ...defined } as HttpOptions;
  for (const key of COUNTS) {
    const minimum = MAY_BE_ZERO.has(key) ? 0 : 1;
    if (!Number.isInteger(options[key]) || options[key] < minimum) {
      throw new HttpOptionsError(`http.${key}: must be an integer >= ${minimum}, got ${String(options[key])}`);
    }
  }
  if (options.header_timeout_ms > options.request_timeout_ms) {
    throw new HttpOptionsError(`http.header_timeout_ms: must not exceed http.request_timeout_ms (${options.request_timeout_ms})`);
  }
  if (options.max_connections_per_client > options.max_connections) {
    throw new HttpOptionsError(`http.max_connections_per_client: must not exceed http.max_connections (${options.max_connections})`);
  }
  if (options.token !== undefined && options.token.length === 0) delete options.token;
  const problem = options.token === undefined ? null : tokenProblem(options.token);
  if (problem) throw new HttpOptionsError(`http.token: the API token ${problem}`);
  return options;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads and checks the TLS files: each must be readable and hold what its option names (a PEM
 * certificate chain, an unencrypted PEM private key), and the key must belong to the
 * certificate. Errors name `http.tls.cert` or `http.tls.key` rather than OpenSSL's codes.
 */
export function loadTls(tls: { cert: string; key: string }): TlsMaterial {
  const read = (option: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new HttpOptionsError(`${option}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  const cert = read('http.tls.cert', tls.cert);
  const key = read('http.tls.key', tls.key);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new HttpOptionsError(`http.tls.cert: ${tls.cert} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    const encrypted = /passphrase|encrypted/i.test(String((error as Error).message)) || key.includes('ENCRYPTED');
    throw new HttpOptionsError(encrypted
      ? `http.tls.key: ${tls.key} is an encrypted private key; give the agent an unencrypted one (readable only by its user)`
      : `http.tls.key: ${tls.key} holds no PEM private key (expected -----BEGIN PRIVATE KEY----- or similar)`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new HttpOptionsError(`http.tls.key: ${tls.key} is not the private key of the certificate in http.tls.cert (${tls.cert})`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new HttpOptionsError(`http.tls.cert: ${tls.cert} with http.tls.key ${tls.key} cannot serve TLS: ${(error as Error).message}`);
  }
  return { cert, key };
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
    throw new HttpOptionsError(`http.listen: '${listen}' is not host:port (e.g. 127.0.0.1:9477 or [::1]:9477)`);
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
    throw new HttpOptionsError(
      `refusing to listen on ${options.listen} without an API token: anyone who can reach it could read every flow. ` +
        'Set a token (--token, FLOWMESH_TOKEN or http.token in the config file) or listen on loopback (127.0.0.1).',
    );
  }
}
