/**
 * Durability of the store inside the real agent process (`flowmesh-agent run`, built CLI
 * in agent/dist) capturing live on loopback (root only), with TCP traffic this test makes
 * to its own 127.0.0.1 server (BPF-filtered to that port, so nothing else is counted):
 *
 * - SIGKILL after a flush: every record the agent's query API already answered (i.e.
 *   committed) is in the file afterwards, and the file opens (WAL replayed).
 * - SIGTERM mid-capture, with connections still open and new ones starting: the agent
 *   ends every flow, flushes, exits 0, and the database holds exactly the records its
 *   JSON-lines copy holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { FlowRecord } from '../src/model/flow';
import { privileged } from './support/privileged';
import { whenPresent } from './support/prerequisite';

const CLI = path.resolve(__dirname, '../dist/cli.js');
const rootTest = privileged('the durability tests (live capture on lo)').test;
const maybe = whenPresent(`the durability tests (${CLI})`, fs.existsSync(CLI), 'build the agent: npm run build -w agent', rootTest);

const TOKEN = 'durability-test-token';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
let server: net.Server;
let port: number;
const sockets = new Set<net.Socket>();
let agent: ChildProcess | null = null;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-durability-'));
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (data) => socket.write(data)); // echo: bytes both ways
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterEach(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
  agent = null;
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Started {
  process: ChildProcess;
  api: string;
  stderr: () => string;
}

async function startAgent(db: string, jsonl: string): Promise<Started> {
  const child = spawn(process.execPath, [
    CLI, 'run', '--interface', 'lo', '--filter', `tcp port ${port}`, '--db', db, '--jsonl', jsonl,
    '--listen', '127.0.0.1:0', '--token', TOKEN, '--node', 'durability', '--log-level', 'info', '--local-address', '127.0.0.1',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  agent = child;
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const line = stderr.split('\n').find((l) => l.includes('"capturing"'));
    if (line) return { process: child, api: JSON.parse(line).api, stderr: () => stderr };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`agent did not start capturing:\n${stderr}`);
}

/** One TCP connection: sends `bytes`, reads the echo, closes. */
function exchange(bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(Buffer.alloc(bytes, 7)));
    let received = 0;
    socket.on('data', (d) => {
      received += d.length;
      if (received >= bytes) socket.end();
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

async function summary(api: string): Promise<{ records: number; total: { flows: number } }> {
  const response = await fetch(`${api}/api/v1/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'summary', from: Date.now() - 3600_000, to: Date.now() + 60_000 }),
  });
  if (!response.ok) throw new Error(`query failed: ${response.status} ${await response.text()}`);
  return (await response.json()) as { records: number; total: { flows: number } };
}

async function storedRecords(db: string): Promise<FlowRecord[]> {
  const instance = await DuckDBInstance.create(db);
  const connection = await instance.connect();
  const reader = await connection.runAndReadAll(
    'SELECT flow_id, seq, src_port, dst_port, bytes_tx, bytes_rx, packets_tx, packets_rx FROM flows WHERE dst_port = $1 ORDER BY flow_id, seq',
    [port],
  );
  const rows = reader.getRowObjectsJson() as unknown as FlowRecord[];
  connection.closeSync();
  instance.closeSync();
  return rows;
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

maybe('SIGKILL after a flush: every committed record survives and the file opens', async () => {
  const db = path.join(dir, 'kill.duckdb');
  const started = await startAgent(db, path.join(dir, 'kill.jsonl'));
  const connections = 20;
  await Promise.all(Array.from({ length: connections }, (_, i) => exchange(1000 + i)));
  // Records leave the flow table after the TCP linger, then the store flushes (<= 1 s):
  // wait until the agent's own API answers them, which means they are committed.
  let committed = 0;
  for (let i = 0; i < 100 && committed < connections; i++) {
    await sleep(250);
    committed = (await summary(started.api)).records;
  }
  expect(committed).toBe(connections);
  started.process.kill('SIGKILL');
  expect(await exitOf(started.process)).toEqual({ code: null, signal: 'SIGKILL' });

  const rows = await storedRecords(db);
  expect(rows.length).toBe(connections);
  const sent = rows.map((r) => Number(r.bytes_tx)).sort((a, b) => a - b);
  const payload = Array.from({ length: connections }, (_, i) => 1000 + i);
  // IP-layer bytes: payload + headers; each connection's payload size is distinct.
  sent.forEach((bytes, i) => expect(bytes).toBeGreaterThan(payload[i]));
  expect(rows.every((r) => Number(r.bytes_rx) > 1000)).toBe(true);
}, 60_000);

maybe('SIGTERM mid-capture: all flows present at stop are stored, exactly as the JSON-lines copy', async () => {
  const db = path.join(dir, 'term.duckdb');
  const jsonl = path.join(dir, 'term.jsonl');
  const started = await startAgent(db, jsonl);
  // Long-lived connections still open at stop, plus short ones starting all the time.
  const open = await Promise.all(
    Array.from({ length: 8 }, () => new Promise<net.Socket>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
      socket.on('error', () => undefined);
    })),
  );
  let stop = false;
  const ticker = setInterval(() => open.forEach((s) => s.write(Buffer.alloc(300, 1))), 50);
  const churn = (async () => {
    for (let i = 0; i < 400 && !stop; i++) await exchange(200 + (i % 50)).catch(() => undefined);
  })();
  await sleep(3000);
  started.process.kill('SIGTERM');
  const exit = await exitOf(started.process);
  stop = true;
  clearInterval(ticker);
  await churn;
  open.forEach((s) => s.destroy());
  expect(exit).toEqual({ code: 0, signal: null });

  const lines = fs.readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as FlowRecord);
  const emitted = lines.filter((r) => r.dst_port === port);
  expect(emitted.length).toBeGreaterThan(20);
  expect(emitted.filter((r) => r.end_reason === 'shutdown').length).toBeGreaterThanOrEqual(8); // the open ones
  const key = (r: { flow_id: string; seq: number; bytes_tx: number; bytes_rx: number }) =>
    `${r.flow_id}/${r.seq}/${Number(r.bytes_tx)}/${Number(r.bytes_rx)}`;
  const stored = await storedRecords(db);
  expect(stored.map(key).sort()).toEqual(emitted.map(key).sort());
  expect(started.stderr()).toContain('stopped');
}, 60_000);
