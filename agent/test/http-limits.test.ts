/**
 * Limits of a running agent under load, on a real DuckDB file big enough that queries take
 * real time: concurrency refusals (429 + Retry-After), timeouts (504 naming the limit), row
 * budget (413), graceful close finishing in-flight queries, and TLS.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import pino from 'pino';
import path from 'node:path';
import { BASE_MS, call, makeRecords, startTestAgent, type TestAgent } from './http-fixture';

const records = makeRecords(60_000, 21);
const RANGE = { from: BASE_MS - 3_600_000, to: BASE_MS + 70_000 * 1000 };
/** A query that makes DuckDB work: group every record by four high-cardinality columns. */
const heavy = { kind: 'top', ...RANGE, group_by: ['src_ip', 'dst_ip', 'src_port', 'flow_id'], metric: 'bytes', limit: 10 };

describe('concurrency limit', () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent(records, { http: { max_concurrent_queries: 1, max_queued_queries: 0 } });
  });
  afterAll(() => agent?.close());

  test('a burst beyond max_concurrent_queries + max_queued_queries gets 429 with Retry-After, the rest 200', async () => {
    const replies = await Promise.all(Array.from({ length: 12 }, () => call(agent, 'POST', '/api/v1/query', heavy)));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(1);
    const refused = replies.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const reply of refused) {
      expect(reply.headers.get('retry-after')).toBe('1');
      expect(reply.json).toEqual({ error: 'too_many_requests', message: expect.stringMatching(/too many concurrent queries/) });
    }
    // and once the burst is over the agent answers again
    expect((await call(agent, 'POST', '/api/v1/query', { kind: 'summary', ...RANGE })).json.records).toBe(records.length);
  });

  test('a client leaving mid-export stops the export; the agent stays healthy', async () => {
    const controller = new AbortController();
    const response = await fetch(`${agent.service.address}/api/v1/export.csv`, {
      method: 'POST',
      headers: { ...agent.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'flows', ...RANGE, limit: 100 }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value).startsWith('start_time,end_time,')).toBe(true);
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
    // the export stops fetching pages: the engine goes idle and stays idle
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const deadline = Date.now() + 5000;
    while (agent.service.engine.load.running > 0 && Date.now() < deadline) await sleep(20);
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      samples.push(agent.service.engine.load.running);
      await sleep(50);
    }
    expect(samples).toEqual(Array(10).fill(0));
    expect((await call(agent, 'POST', '/api/v1/query', { kind: 'summary', ...RANGE })).status).toBe(200);
    expect((await call(agent, 'GET', '/health', undefined, {})).status).toBe(200);
  });

  test('close() lets an in-flight query finish, then refuses connections', async () => {
    const inFlight = call(agent, 'POST', '/api/v1/query', heavy);
    // Close once the query runs: a connection whose request has not arrived yet is idle, and close() ends idle ones.
    for (const deadline = Date.now() + 10_000; agent.service.engine.load.running === 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const closed = agent.service.close();
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.json.total.bytes).toBe(records.reduce((t, r) => t + r.bytes_tx + r.bytes_rx, 0));
    await closed;
    await expect(fetch(`${agent.service.address}/health`)).rejects.toThrow();
  });
});

describe('time limit', () => {
  let agent: TestAgent;
  beforeAll(async () => {
    // 1 ms: shorter than any query of 60k records can take, whatever the machine's load. The
    // deadline decides even when interrupt() lands between two statements and DuckDB finishes.
    agent = await startTestAgent(records, { http: { query_timeout_ms: 1 } });
  });
  afterAll(() => agent?.close());

  test('a query over query_timeout_ms is 504 and the message names the limit', async () => {
    const reply = await call(agent, 'POST', '/api/v1/query', heavy);
    expect(reply.status).toBe(504);
    expect(reply.json).toEqual({
      error: 'timeout',
      message: 'query exceeded the 1 ms timeout (query_timeout_ms); narrow the time range or add filters',
    });
  });
});

describe('row budget', () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent(records, { http: { row_budget: 500 } });
  });
  afterAll(() => agent?.close());

  test('a page larger than row_budget is 413', async () => {
    const reply = await call(agent, 'POST', '/api/v1/query', { kind: 'flows', ...RANGE, limit: 501 });
    expect(reply.status).toBe(413);
    expect(reply.json).toEqual({ error: 'row_budget_exceeded', message: expect.stringMatching(/row budget of 500/) });
  });
});

describe('TLS', () => {
  test('serves HTTPS from cert/key files', async () => {
    const dir = fs.mkdtempSync('/tmp/flowmesh-h4-tls-');
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const agent = await startTestAgent([], { http: { tls: { cert, key } } });
    try {
      expect(agent.service.address).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const status = await new Promise<number>((resolve, reject) => {
        https.get(`${agent.service.address}/health`, { ca: fs.readFileSync(cert) }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }).on('error', reject);
      });
      expect(status).toBe(200);
      await expect(fetch(`${agent.service.address.replace('https', 'http')}/health`)).rejects.toThrow();
    } finally {
      await agent.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('store unavailable', () => {
  test('a closed query engine answers 503 with Retry-After, no internals, and the 5xx is logged', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const agent = await startTestAgent(makeRecords(10, 1), { logger });
    try {
      agent.service.engine.close();
      const reply = await call(agent, 'POST', '/api/v1/query', { kind: 'summary', ...RANGE });
      expect(reply.status).toBe(503);
      expect(reply.headers.get('retry-after')).toBe('5');
      expect(reply.json).toEqual({ error: 'unavailable', message: 'the flow store cannot answer queries right now; see the agent log' });
      const logged = lines.map((l) => JSON.parse(l)).find((l) => l.status === 503);
      expect(logged).toMatchObject({ level: 40, route: '/api/v1/query', err: { message: 'query engine closed' } });
    } finally {
      await agent.close();
    }
  });
});
