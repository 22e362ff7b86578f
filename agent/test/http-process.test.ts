/**
 * The API served by the real agent process: two captures are imported with
 * `flowmesh-agent import` (a small hand-built pcap with known flows, node `importer`, and a
 * generated capture with ground truth, node `synth`), then `flowmesh-agent serve` is spawned
 * on an ephemeral loopback port; auth, queries, paging and CSV export are checked over HTTP
 * against the truth, and an unsafe listen address without a token is refused at startup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCapture, readTruth, type CaptureTruth } from '../src/synth';
import { scenario, T0_US, writePcap } from './pipeline-pcap';
import { CLI, ensureCliBuilt } from './support/built-cli';

const TOKEN = 'process-test-token';
const RANGE = { from: Math.floor(T0_US / 1000) - 60_000, to: Math.floor(T0_US / 1000) + 3_600_000 };

const dir = mkdtempSync(join(tmpdir(), 'flowmesh-h4-proc-'));
const db = join(dir, 'flows.duckdb');
const { frames, expected } = scenario();
let server: ChildProcess | undefined;
let api = '';
let truth: CaptureTruth;

function importCapture(pcap: string, node: string, localAddresses: string[]): void {
  const local = localAddresses.flatMap((address) => ['--local-address', address]);
  const imported = spawnSync(process.execPath, [CLI, 'import', pcap, '--db', db, '--node', node, ...local],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, FLOWMESH_TOKEN: '' } });
  expect({ code: imported.status, stderr: imported.stderr }).toMatchObject({ code: 0 });
}

async function query(body: unknown, token: string | null = TOKEN) {
  const response = await fetch(`${api}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  ensureCliBuilt();
  const pcap = join(dir, 'scenario.pcap');
  writePcap(pcap, frames);
  importCapture(pcap, 'importer', ['10.0.0.0/24']);
  const generated = await generateCapture({ out: join(dir, 'synth.pcap'), seed: 7, flows: 300 });
  truth = readTruth(generated.truthPath);
  importCapture(generated.pcapPath, 'synth', truth.capture_host);

  server = spawn(process.execPath, [CLI, 'serve', '--db', db, '--listen', '127.0.0.1:0', '--token', TOKEN, '--node', 'importer',
    '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout!.on('data', (chunk) => (output += chunk));
  server.stderr!.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 20_000;
  while (!api && Date.now() < deadline && server.exitCode === null) {
    const line = output.split('\n').find((l) => l.includes('agent API listening'));
    if (line) api = JSON.parse(line).address;
    else await new Promise((r) => setTimeout(r, 50));
  }
  if (!api) throw new Error(`agent did not start serving:\n${output}`);
}, 120_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('flowmesh-agent serve (real process)', () => {
  test('the logged address is loopback with an ephemeral port', () => {
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('auth: /health open; query refused without or with a wrong token, answered with the right one', async () => {
    expect((await fetch(`${api}/health`)).status).toBe(200);
    expect((await query({ kind: 'summary', ...RANGE }, null)).status).toBe(401);
    expect((await query({ kind: 'summary', ...RANGE }, 'wrong')).status).toBe(401);
    expect((await query({ kind: 'summary', ...RANGE })).status).toBe(200);
  });

  test('flows over HTTP equal the flows in the imported capture', async () => {
    const reply = await query({ kind: 'flows', ...RANGE, order: 'oldest' });
    expect(reply.status).toBe(200);
    expect(reply.json.next_cursor).toBeNull();
    const records = reply.json.records as Record<string, unknown>[];
    expect(records).toHaveLength(expected.length);
    for (const flow of expected) {
      expect(records.find((r) => r.src_ip === flow.src_ip && r.src_port === flow.src_port && r.protocol === flow.protocol))
        .toMatchObject({ ...flow, node: 'importer' });
    }
    const summary = await query({ kind: 'summary', ...RANGE });
    expect((summary.json.total as { bytes: number }).bytes).toBe(expected.reduce((t, f) => t + f.bytes_tx + f.bytes_rx, 0));
  });

  test('a generated capture: summary, paging and CSV export over HTTP equal its ground truth', async () => {
    const synth = {
      from: Math.floor(truth.summary.first_us / 1000) - 1000,
      to: Math.ceil(truth.summary.last_us / 1000) + 60_000,
      filters: [{ field: 'node', op: 'eq', value: 'synth' }],
    };
    const summary = await query({ kind: 'summary', ...synth });
    expect(summary.status).toBe(200);
    expect(summary.json.total).toMatchObject({ bytes: truth.summary.ip_bytes, flows: truth.flows.length });

    const byProtocol = await query({ kind: 'top', ...synth, group_by: ['protocol'], metric: 'flows', limit: 0 });
    const counted = Object.fromEntries((byProtocol.json.rows as { key: { protocol: string }; value: number }[]).map((r) => [r.key.protocol, r.value]));
    expect(counted).toEqual(truth.summary.flows_by_protocol);

    const paged: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 200; page++) {
      const reply = await query({ kind: 'flows', ...synth, limit: 97, ...(cursor ? { cursor } : {}) });
      expect(reply.status).toBe(200);
      paged.push(...(reply.json.records as Record<string, unknown>[]));
      cursor = reply.json.next_cursor as string | null;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(new Set(paged.map((r) => `${r.flow_id}/${r.seq}`)).size).toBe(paged.length);
    expect(new Set(paged.map((r) => r.flow_id)).size).toBe(truth.flows.length);
    expect(paged.reduce((t, r) => t + (r.bytes_tx as number) + (r.bytes_rx as number), 0)).toBe(truth.summary.ip_bytes);

    const csv = await fetch(`${api}/api/v1/export.csv`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ kind: 'flows', ...synth, limit: 50 }),
    });
    expect(csv.status).toBe(200);
    const lines = (await csv.text()).split('\r\n').filter(Boolean);
    expect(lines.length - 1).toBe(paged.length); // synth names hold no line breaks, so one line per record
  });

  test('refuses to start on a non-loopback address without a token', () => {
    const refused = spawnSync(process.execPath, [CLI, 'serve', '--db', join(dir, 'other.duckdb'), '--listen', '0.0.0.0:0'],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, FLOWMESH_TOKEN: '' } });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/refusing to listen on 0\.0\.0\.0:0 without an API token/);
  });

  test('SIGTERM shuts down cleanly', async () => {
    const exited = new Promise<number | null>((r) => server!.once('exit', (code) => r(code)));
    server!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
