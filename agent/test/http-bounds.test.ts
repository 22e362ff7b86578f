/**
 * Fault injection against the real agent process (`flowmesh-agent serve`, real HTTP over
 * loopback): what a hostile or broken client can do to it, and the one clear answer each
 * bad input gets.
 *
 * - slow and idle clients: a body that never arrives without a token (401 before the body,
 *   connection closed), headers that never finish (408 after http.header_timeout_ms), a body
 *   trickling in (408 after http.request_timeout_ms), idle keep-alive (closed), a reader that
 *   stops reading (closed once stalled); 1,100 such connections under a 1024 open-file limit
 *   (the agent keeps answering); the connection caps, total and per client address;
 * - overload: one client flooding does not lock out another, and a refusal comes before the
 *   request body is read;
 * - bad input: numbers outside 64 bits (400 naming the field), cursors from another database
 *   or query (400 naming `cursor`), whitespace tokens and TLS file mistakes (exit 2 naming the
 *   option, from the command line, the environment and the config file).
 *
 * Client addresses: 127.0.0.1, .2, .3 are different clients (Linux routes all of 127/8 to lo).
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { FlowStore } from '../src/store';
import { CLI, ensureCliBuilt } from './support/built-cli';
import { insertBulkFlows } from './support/bulk-flows';

const TOKEN = 'bounds-test-token';
const ROWS = 300_000;
const BASE_US = Date.UTC(2026, 3, 1) * 1000;
const RANGE = { from: BASE_US / 1000, to: BASE_US / 1000 + 86_400_000 };
/** Groups over 300 k distinct flow ids: takes DuckDB a while. */
const HEAVY = { kind: 'top', ...RANGE, group_by: ['flow_id', 'community_id', 'src_port'], limit: 5 };
const LIGHT = { kind: 'summary', from: RANGE.from, to: RANGE.from + 60_000 };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-bounds-'));
const running: ChildProcess[] = [];

interface Agent {
  port: number;
  url: string;
  proc: ChildProcess;
  output: () => string;
}

/**
 * A database of `rows` records, one every 250 ms. With `rolledUp`, the serving agent does not
 * spend seconds rolling them up (see insertBulkFlows).
 */
async function buildDatabase(file: string, rows: number, rolledUp: boolean): Promise<void> {
  const store = await FlowStore.open({ path: file, logger: pino({ level: 'silent' }), rollupIntervalMs: 3_600_000 });
  await insertBulkFlows(store, { rows, startUs: BASE_US, stepUs: 250_000, rolledUp });
  await store.close();
}

/** `flowmesh-agent serve` on an ephemeral loopback port with this config; `nofile` caps its open files. */
async function startAgent(name: string, db: string, http: Record<string, unknown>, nofile?: number): Promise<Agent> {
  const config = path.join(dir, `${name}.json`);
  fs.writeFileSync(config, JSON.stringify({ http: { listen: '127.0.0.1:0', token: TOKEN, ...http } }));
  const args = [CLI, 'serve', '--db', db, '--config', config, '--node', name, '--log-level', 'info'];
  const proc = nofile
    ? spawn('sh', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(proc);
  let output = '';
  proc.stdout!.on('data', (chunk) => (output += chunk));
  proc.stderr!.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && proc.exitCode === null) {
    const line = output.split('\n').find((l) => l.includes('agent API listening'));
    if (line) {
      const url = JSON.parse(line).address as string;
      return { port: Number(new URL(url).port), url, proc, output: () => output };
    }
    await sleep(50);
  }
  throw new Error(`agent ${name} did not start:\n${output}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RawExchange {
  /** Everything the agent sent. */
  received: string;
  /** Whether the agent closed (end or reset) before we gave up. */
  closedByAgent: boolean;
  /** From the first byte written to the close. */
  ms: number;
}

/**
 * Writes `chunks` on a fresh connection (the first at once, each later one after `everyMs`)
 * and waits until the agent closes it or `waitMs` pass.
 */
function rawExchange(port: number, chunks: string[], options: { everyMs?: number; waitMs: number; localAddress?: string }): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    let received = '';
    let started = 0;
    let done = false;
    const finish = (closedByAgent: boolean) => {
      if (done) return;
      done = true;
      clearInterval(drip);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ received, closedByAgent, ms: performance.now() - started });
    };
    let next = 0;
    let drip: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => finish(false), options.waitMs);
    socket.on('connect', () => {
      started = performance.now();
      socket.write(chunks[next++]!);
      drip = setInterval(() => {
        if (next < chunks.length && socket.writable) socket.write(chunks[next++]!);
      }, options.everyMs ?? 1000);
    });
    socket.on('data', (data) => (received += data.toString('latin1')));
    socket.on('end', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

const queryHead = (contentLength: number, token: string | null) =>
  `POST /api/v1/query HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n` +
  `${token === null ? '' : `Authorization: Bearer ${token}\r\n`}\r\n`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON came back
async function query(agent: Agent, body: unknown, localAddress?: string): Promise<{ status: number; json: any }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1', port: agent.port, path: '/api/v1/query', method: 'POST', localAddress, agent: false,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(text) },
    }, (response) => {
      let data = '';
      response.on('data', (chunk) => (data += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, json: data ? JSON.parse(data) : undefined }));
    });
    request.on('error', reject);
    request.end(text);
  });
}

async function metric(agent: Agent, name: string): Promise<number> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Opens a connection that stays idle; resolves once the agent has had the chance to refuse it. */
function idleConnection(port: number, localAddress: string): Promise<{ socket: net.Socket; refused: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let refused = false;
    socket.on('error', () => (refused = true));
    socket.on('close', () => (refused = true));
    socket.on('connect', () => setTimeout(() => resolve({ socket, refused }), 150));
  });
}

let big: string;
let small: string;
let main: Agent;
let defaults: Agent;

beforeAll(async () => {
  ensureCliBuilt();
  big = path.join(dir, 'big.duckdb');
  small = path.join(dir, 'small.duckdb');
  await buildDatabase(big, ROWS, true);
  await buildDatabase(small, 10, false);
  // Short deadlines and a tiny query pool (queue full fast); long query timeout so a fair query is never refused for time.
  main = await startAgent('main', big, {
    header_timeout_ms: 1000, request_timeout_ms: 2000, keep_alive_timeout_ms: 1000,
    max_concurrent_queries: 1, max_queued_queries: 4, query_timeout_ms: 20_000,
  });
  // Every limit at its default, and the open-file limit of the issue that found the problem.
  defaults = await startAgent('defaults', small, {}, 1024);
}, 180_000);

afterAll(async () => {
  await Promise.all(running.map((proc) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return undefined;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    return exited;
  }));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('slow and idle clients', () => {
  test('no token, body never finished: 401 before the body, and the agent closes the connection', async () => {
    const before = await metric(main, 'flowmesh_api_connections_closed_total{reason="unauthorized"}');
    const exchanges = await Promise.all(Array.from({ length: 20 }, () =>
      rawExchange(main.port, [queryHead(1000, null) + '{"kind":'], { waitMs: 10_000 })));
    for (const exchange of exchanges) {
      expect(exchange.received).toMatch(/^HTTP\/1\.1 401 /);
      expect(exchange.received).toMatch(/\r\nconnection: close\r\n/i);
      expect(exchange.closedByAgent).toBe(true);
    }
    expect(await metric(main, 'flowmesh_api_connections_closed_total{reason="unauthorized"}')).toBe(before + 20);
  });

  test('headers that never finish: 408 after http.header_timeout_ms, then closed', async () => {
    const exchange = await rawExchange(main.port, ['POST /api/v1/query HTTP/1.1\r\nHost: agent\r\n'], { waitMs: 15_000 });
    expect(exchange.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(exchange.received).toContain('http.header_timeout_ms');
    expect(exchange.closedByAgent).toBe(true);
    expect(exchange.ms).toBeGreaterThanOrEqual(1000);
  });

  test('a body trickling in: 408 after http.request_timeout_ms, then closed', async () => {
    const body = JSON.stringify(LIGHT);
    const chunks = [queryHead(body.length, TOKEN), ...body.split('')];
    const exchange = await rawExchange(main.port, chunks, { everyMs: 200, waitMs: 15_000 });
    expect(exchange.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(exchange.closedByAgent).toBe(true);
    expect(exchange.ms).toBeGreaterThanOrEqual(2000);
  });

  test.each([
    ['malformed HTTP', 'GARBAGE / NOT-HTTP\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['headers over 16 KiB', `GET /health HTTP/1.1\r\nHost: agent\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
  ])('%s: answered and closed', async (_name, request, status) => {
    const exchange = await rawExchange(main.port, [request], { waitMs: 10_000 });
    expect(exchange.received).toMatch(status);
    expect(exchange.closedByAgent).toBe(true);
  });

  test('an idle keep-alive connection is closed after http.keep_alive_timeout_ms', async () => {
    const exchange = await rawExchange(main.port, ['GET /health HTTP/1.1\r\nHost: agent\r\nConnection: keep-alive\r\n\r\n'], { waitMs: 15_000 });
    expect(exchange.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(exchange.closedByAgent).toBe(true);
    expect(exchange.ms).toBeGreaterThanOrEqual(1000);
  });

  test('a client that stops reading its answer is disconnected once nothing moves (query_timeout_ms + 6 s)', async () => {
    const copy = path.join(dir, 'stall.duckdb');
    fs.copyFileSync(big, copy);
    const agent = await startAgent('stall', copy, { query_timeout_ms: 2000 });
    // The CSV of 300 k records is far more than the socket buffers hold; this client never reads it.
    const body = JSON.stringify({ kind: 'flows', ...RANGE, limit: 10_000 });
    const request = `POST /api/v1/export.csv HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
      `Authorization: Bearer ${TOKEN}\r\n\r\n${body}`;
    const socket = net.connect({ port: agent.port, host: '127.0.0.1' }, () => {
      socket.write(request);
      socket.pause(); // a paused socket also does not see the agent's close until it reads again
    });
    socket.on('error', () => undefined);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    try {
      let stalled = 0;
      for (const deadline = Date.now() + 30_000; stalled === 0 && Date.now() < deadline; await sleep(250)) {
        stalled = await metric(agent, 'flowmesh_api_connections_closed_total{reason="stalled"}');
      }
      expect(stalled).toBe(1);
      socket.resume(); // reads what was buffered, then the end the agent sent
      await closed;
    } finally {
      socket.destroy();
    }
  }, 60_000);
});

describe('connection caps (defaults: 512 in all, 384 per client address)', () => {
  test('the 385th connection of one address is closed at once, other addresses still connect, up to 512 in all', async () => {
    const opened: net.Socket[] = [];
    /** Opens `count` idle connections from `address` at once (kept open); how many were refused. */
    const refusedOf = async (count: number, address: string): Promise<number> => {
      const made = await Promise.all(Array.from({ length: count }, () => idleConnection(defaults.port, address)));
      opened.push(...made.map((c) => c.socket));
      return made.filter((c) => c.refused).length;
    };
    try {
      expect(await refusedOf(384, '127.0.0.1')).toBe(0);
      expect(await refusedOf(1, '127.0.0.1')).toBe(1);
      expect(await refusedOf(128, '127.0.0.2')).toBe(0);
      expect(await refusedOf(1, '127.0.0.3')).toBe(1);
      expect(await metricAfterClosing(opened, 'flowmesh_api_connections_refused_total{reason="max_connections_per_client"}')).toBe(1);
      expect(await metric(defaults, 'flowmesh_api_connections_refused_total{reason="max_connections"}')).toBe(1);
    } finally {
      for (const socket of opened) socket.destroy();
    }
  });

  /** Closes the idle sockets (freeing a slot for the scrape), then reads the metric. */
  async function metricAfterClosing(sockets: net.Socket[], name: string): Promise<number> {
    for (const socket of sockets) socket.destroy();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      try {
        return await metric(defaults, name);
      } catch {
        await sleep(100); // the agent has not seen the closes yet
      }
    }
    throw new Error('the agent did not accept a connection after the idle ones closed');
  }

  test('1,100 connections without a token that never finish their body, open-file limit 1024: the agent keeps answering', async () => {
    const exchanges = Array.from({ length: 1100 }, (_, i) =>
      rawExchange(defaults.port, [queryHead(1000, null) + '{"kind":'], { waitMs: 20_000, localAddress: `127.0.0.${1 + (i % 2)}` }));
    await sleep(200);
    // While they are being dealt with, an authorised client is answered.
    expect((await fetch(`${defaults.url}/health`)).status).toBe(200);
    const answer = await query(defaults, { kind: 'summary', ...RANGE }, '127.0.0.3');
    expect(answer).toMatchObject({ status: 200, json: { records: 10 } });
    const all = await Promise.all(exchanges);
    // Every one was closed by the agent: answered 401, or refused at a connection cap.
    expect(all.filter((e) => !e.closedByAgent)).toHaveLength(0);
    expect(all.filter((e) => e.received !== '' && !/^HTTP\/1\.1 401 /.test(e.received))).toHaveLength(0);
    expect(defaults.proc.exitCode).toBeNull();
    expect(defaults.output()).not.toMatch(/EMFILE/);
  }, 60_000);
});

describe('overload', () => {
  test('a client flooding with 12 connections does not lock out another client; refusals are 429 with Retry-After', async () => {
    let flooding = true;
    const floodStatuses: number[] = [];
    const flood = Array.from({ length: 12 }, async () => {
      while (flooding) floodStatuses.push((await query(main, HEAVY, '127.0.0.1')).status);
    });
    try {
      await sleep(500);
      const other: number[] = [];
      for (let i = 0; i < 6; i++) other.push((await query(main, LIGHT, '127.0.0.2')).status);
      expect(other).toEqual(Array(6).fill(200));
    } finally {
      flooding = false;
      await Promise.all(flood);
    }
    expect(floodStatuses).toContain(200);
    expect(floodStatuses).toContain(429);
    expect(floodStatuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  }, 120_000);

  test('an overloaded agent refuses a query before reading its body', async () => {
    let flooding = true;
    const flood = Array.from({ length: 8 }, async () => {
      while (flooding) await query(main, HEAVY, '127.0.0.1');
    });
    try {
      await sleep(300);
      // The body is announced but never sent: only a refusal before reading it can answer.
      let answer = '';
      for (let attempt = 0; attempt < 20 && !answer.startsWith('HTTP/1.1 429'); attempt++) {
        answer = (await rawExchange(main.port, [queryHead(1000, TOKEN)], { waitMs: 500, localAddress: '127.0.0.1' })).received;
      }
      expect(answer).toMatch(/^HTTP\/1\.1 429 /);
      expect(answer).toMatch(/\r\nretry-after: \d+\r\n/i);
    } finally {
      flooding = false;
      await Promise.all(flood);
    }
  }, 120_000);
});

describe('bad input gets one clear answer', () => {
  test.each([
    ['gt', 2 ** 63], ['lt', -(2 ** 63) - 4096], ['eq', 1e300],
  ])('a numeric filter %s %d outside 64 bits is 400 naming the field', async (op, value) => {
    const reply = await query(main, { kind: 'summary', ...RANGE, filters: [{ field: 'bytes', op, value }] });
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ error: 'bad_request', field: 'filters/0/value', message: expect.stringMatching(/out of range for bytes/) });
  });

  test('the largest values inside 64 bits are answered', async () => {
    const reply = await query(main, { kind: 'summary', ...RANGE, filters: [{ field: 'bytes', op: 'lt', value: 2 ** 63 - 1024 }] });
    expect(reply).toMatchObject({ status: 200, json: { records: ROWS } });
  });

  test('a cursor works with the same query over another time range, not with other filters or another database', async () => {
    const flows = { kind: 'flows', ...RANGE, limit: 10, filters: [{ field: 'src_port', op: 'range', min: 0, max: 29_999 }] };
    const first = await query(main, flows);
    const cursor = first.json.next_cursor as string;
    expect(typeof cursor).toBe('string');
    // A dashboard's relative range moved between two pages: still the same paging.
    const moved = await query(main, { ...flows, to: RANGE.to + 60_000, cursor });
    expect(moved.status).toBe(200);
    expect(moved.json.records[0].start_us).toBeLessThan(first.json.records[9].start_us);
    const otherFilters = await query(main, { ...flows, filters: [{ field: 'src_port', op: 'range', min: 0, max: 30_000 }], cursor });
    expect(otherFilters.status).toBe(400);
    expect(otherFilters.json).toMatchObject({ field: 'cursor', message: expect.stringMatching(/query with other filters \(or include_open\); start again from the first page/) });
    const otherDatabase = await query(defaults, { ...flows, cursor });
    expect(otherDatabase.status).toBe(400);
    expect(otherDatabase.json).toMatchObject({ field: 'cursor', message: expect.stringMatching(/another database/) });
  });

  const refuse = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [CLI, 'serve', '--db', path.join(dir, 'refused.duckdb'), ...args],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, FLOWMESH_TOKEN: '', ...env } });

  test.each([
    ['--token of spaces', ['--token', '   '], {}, /--token: the API token is only whitespace/],
    ['FLOWMESH_TOKEN of a tab, off loopback', ['--listen', '0.0.0.0:0'], { FLOWMESH_TOKEN: '\t' }, /FLOWMESH_TOKEN: the API token is only whitespace/],
    ['a token with a trailing newline', ['--token', 'abc\n'], {}, /--token: the API token contains whitespace/],
  ])('%s: exit 2 naming where the token came from', (_name, args, env, message) => {
    const result = refuse(args, env as Record<string, string>);
    expect({ code: result.status, stderr: result.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(message) });
    expect(fs.existsSync(path.join(dir, 'refused.duckdb'))).toBe(false);
  });

  test('a config file token of whitespace: exit 2 naming http.token', () => {
    const config = path.join(dir, 'blank-token.yaml');
    fs.writeFileSync(config, 'http:\n  listen: 0.0.0.0:0\n  token: "  "\n');
    const result = refuse(['--config', config]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(new RegExp(`config ${config}: http\\.token: the API token is only whitespace`));
  });

  describe('TLS files', () => {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
    const tlsConfig = (cert: string, key: string) => {
      const file = path.join(dir, `tls-${path.basename(cert)}-${path.basename(key)}.json`);
      fs.writeFileSync(file, JSON.stringify({ http: { listen: '127.0.0.1:0', token: TOKEN, tls: { cert, key } } }));
      return file;
    };
    let cert: string;
    let key: string;
    let otherKey: string;
    beforeAll(() => {
      cert = path.join(dir, 'cert.pem');
      key = path.join(dir, 'key.pem');
      otherKey = path.join(dir, 'other-key.pem');
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=localhost');
      openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', otherKey);
      fs.writeFileSync(path.join(dir, 'garbage.pem'), 'not a pem file\n');
    });

    test.each([
      ['a missing certificate', () => tlsConfig(path.join(dir, 'missing.pem'), key), /http\.tls\.cert: cannot read .*missing\.pem/],
      ['a key file that is not a key', () => tlsConfig(cert, path.join(dir, 'garbage.pem')), /http\.tls\.key: .*garbage\.pem holds no PEM private key/],
      ['a certificate file that is a key', () => tlsConfig(key, key), /http\.tls\.cert: .*key\.pem holds no PEM certificate/],
      ['the key of another certificate', () => tlsConfig(cert, otherKey), /http\.tls\.key: .*other-key\.pem is not the private key of the certificate in http\.tls\.cert/],
    ])('%s: exit 2 naming the option, no OpenSSL error codes', (_name, config, message) => {
      const result = refuse(['--config', config()]);
      expect({ code: result.status, stderr: result.stderr }).toEqual({ code: 2, stderr: expect.stringMatching(message) });
      expect(result.stderr).not.toMatch(/error:[0-9A-F]{8}/);
    });
  });
});
