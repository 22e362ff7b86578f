/**
 * The agent CLI as a real process (agent/dist/cli.js, rebuilt here when sources are newer):
 * import to JSON lines and to DuckDB, exit codes 1 (runtime) and 2 (usage/config) with
 * messages naming the problem, and records kept when a capture file is corrupt.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { scenario, writePcap } from './pipeline-pcap';
import { AGENT_DIR, CLI, ensureCliBuilt } from './support/built-cli';
import { privileged } from './support/privileged';


beforeAll(() => {
  ensureCliBuilt();
  // type errors elsewhere in the tree still emit JavaScript; the CLI's own freshness is checked here
  expect(statSync(CLI).mtimeMs).toBeGreaterThanOrEqual(statSync(join(AGENT_DIR, 'src', 'cli.ts')).mtimeMs);
}, 120_000);

const dir = mkdtempSync(join(tmpdir(), 'fm-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FLOWMESH_TOKEN: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Rows of one query against a database file the CLI wrote (opened after the CLI exited). */
async function queryDatabase(db: string, sql: string) {
  const instance = await DuckDBInstance.create(db);
  const conn = await instance.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRows();
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const readJsonl = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('flowmesh-agent CLI', () => {
  const pcap = join(dir, 'scenario.pcap');
  const { frames, expected } = scenario();
  const bytes = writePcap(pcap, frames);

  it('import --jsonl writes every flow record and logs a summary', () => {
    const out = join(dir, 'out.jsonl');
    const r = cli('import', pcap, '--jsonl', out, '--node', 'importer', '--local-address', '10.0.0.0/24');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const records = readJsonl(out);
    expect(records).toHaveLength(expected.length);
    expect(records.every((x) => x.node === 'importer' && x.interface === 'scenario.pcap')).toBe(true);
    expect(records.find((x) => x.protocol === 'tcp')).toMatchObject({ ...expected[1], direction: 'outbound' });
    const summary = JSON.parse(r.stderr.trim().split('\n').pop() as string);
    expect(summary).toMatchObject({ msg: 'done', summary: { packets: frames.length, flows: 4, records: 4, malformed: 1 } });
  });

  it('gen-pcap then import: one record per ground-truth flow, totals equal', () => {
    const gen = join(dir, 'gen.pcap');
    const g = cli('gen-pcap', '--seed', '7', '--flows', '250', '--out', gen);
    expect(g.code).toBe(0);
    const truth = JSON.parse(readFileSync(join(dir, 'gen.truth.json'), 'utf8'));
    const cfg = join(dir, 'long-active.yaml');
    writeFileSync(cfg, 'flows:\n  active_timeout_s: 86400\n');
    const out = join(dir, 'gen.jsonl');
    const r = cli('import', gen, '--jsonl', out, '--config', cfg);
    expect(r.code).toBe(0);
    const records = readJsonl(out);
    expect(records).toHaveLength(truth.flows.length);
    expect(records.reduce((n: number, x: { bytes_tx: number; bytes_rx: number }) => n + x.bytes_tx + x.bytes_rx, 0)).toBe(truth.summary.ip_bytes);
  });

  it('import --db writes the records into a DuckDB file', async () => {
    const db = join(dir, 'data', 'flows.duckdb');
    const r = cli('import', pcap, '--db', db, '--log-level', 'warn');
    expect(r.code).toBe(0);
    const rows = await queryDatabase(db, 'SELECT count(*), sum(bytes_tx + bytes_rx) FROM flows');
    expect(Number(rows[0][0])).toBe(expected.length);
    expect(Number(rows[0][1])).toBe(expected.reduce((a, e) => a + e.bytes_tx + e.bytes_rx, 0));
  });

  it('import: SIGINT stops at the next chunk, stores the flows read so far and exits 130', async () => {
    const big = join(dir, 'big.pcap');
    expect(cli('gen-pcap', '--packets', '300000', '--snaplen', '96', '--out', big, '--truth', join(dir, 'big.truth.json')).code).toBe(0);
    const db = join(dir, 'interrupted.duckdb');
    const files = Array.from({ length: 60 }, () => big); // minutes of work: only an interruption ends it early
    const child = spawn(process.execPath, [CLI, 'import', ...files, '--db', db, '--log-level', 'debug'], { cwd: dir, env: { ...process.env, FLOWMESH_TOKEN: '' } });
    let stderr = '';
    const firstFileRead = new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('capture file read')) resolve();
      });
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await firstFileRead;
      child.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      clearTimeout(deadline);
    }
    expect(stderr).toContain('import interrupted by SIGINT; the flows read before it were stored');
    const summary = stderr.split('\n').filter((l) => l.includes('"summary"')).map((l) => JSON.parse(l).summary)[0];
    expect(summary.packets).toBeGreaterThanOrEqual(300_000);
    expect(summary.packets).toBeLessThan(60 * 300_000);
    const rows = await queryDatabase(db, 'SELECT count(*) FROM flows');
    expect(Number(rows[0][0])).toBe(summary.records);
  }, 90_000);

  it('serve: answers /health over an existing database until SIGTERM', async () => {
    const db = join(dir, 'data', 'flows.duckdb');
    expect(existsSync(db)).toBe(true); // written by the --db import test above
    const child = spawn(process.execPath, [CLI, 'serve', '--db', db, '--listen', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const address = await new Promise<string>((resolveAddress, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /"address":"(http:[^"]+)"/.exec(stderr);
        if (m) { clearTimeout(timer); resolveAddress(m[1]); }
      });
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    expect((await fetch(`${address}/health`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('corrupt capture: exit 1 with the capture error, records seen before the damage are written', () => {
    // 10th packet record claims an impossible captured length
    let offset = 24;
    for (let i = 0; i < 9; i++) offset += 16 + bytes.readUInt32LE(offset + 8);
    const broken = Buffer.from(bytes);
    broken.writeUInt32LE(0x7fffffff, offset + 8);
    const bad = join(dir, 'broken.pcap');
    writeFileSync(bad, broken);
    const out = join(dir, 'broken.jsonl');
    const r = cli('import', bad, '--jsonl', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/flowmesh-agent: .*broken\.pcap/);
    const records = readJsonl(out);
    expect(records.map((x) => x.protocol).sort()).toEqual(['tcp', 'udp']);
    expect(records.find((x) => x.protocol === 'tcp')).toMatchObject({ packets_tx: 4, packets_rx: 3, end_reason: 'tcp_close' });
  });

  it('missing capture file: exit 1 naming it', () => {
    const r = cli('import', join(dir, 'nope.pcap'), '--jsonl', join(dir, 'x.jsonl'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.pcap/);
  });

  it('bad config: exit 2 with a message naming the key', () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'flows:\n  active_timeout_s: -5\n');
    const r = cli('import', pcap, '--jsonl', join(dir, 'y.jsonl'), '--config', cfg);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/flows\.active_timeout_s/);
  });

  it('bad inventory: exit 2 naming the entry', () => {
    const inv = join(dir, 'inv.yaml');
    writeFileSync(inv, 'addresses:\n  10.0.0.999: { name: x, type: node }\n');
    const r = cli('import', pcap, '--jsonl', join(dir, 'z.jsonl'), '--inventory', inv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/10\.0\.0\.999/);
  });

  it('usage errors: exit 2', () => {
    expect(cli('import', pcap, '--no-such-flag').code).toBe(2);
    expect(cli('import').code).toBe(2);
    expect(cli('frobnicate').code).toBe(2);
    const help = cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/run.*\n.*import/s);
  });
});


/** Starts `run` on loopback, waits for its "capturing" log line, returns the child and that line. */
async function startRun(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'run', '--interface', 'lo', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const line = await new Promise<Record<string, unknown>>((resolveLine, reject) => {
    const timer = setTimeout(() => reject(new Error(`run did not start: ${stderr}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const hit = stderr.split('\n').find((l) => l.includes('"capturing"'));
      if (hit) { clearTimeout(timer); resolveLine(JSON.parse(hit)); }
    });
    child.on('exit', () => reject(new Error(`run exited early: ${stderr}`)));
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, line, exited, stderr: () => stderr };
}

async function udpExchange(count: number): Promise<number> {
  const server = createSocket('udp4');
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  const port = server.address().port;
  server.on('message', (msg, from) => server.send(msg, from.port, from.address));
  const client = createSocket('udp4');
  let replies = 0;
  client.on('message', () => replies++);
  for (let i = 0; i < count; i++) client.send(Buffer.alloc(100), port, '127.0.0.1');
  const deadline = Date.now() + 5000;
  while (replies < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  client.close();
  server.close();
  return port;
}

privileged('the `run` (live capture) tests').describe('flowmesh-agent run (live, loopback)', () => {
  it('--jsonl: captures until SIGTERM, then writes every flow and exits 0', async () => {
    const out = join(dir, 'live.jsonl');
    const run = await startRun(['--filter', 'udp and dst portrange 1024-65535 and src host 127.0.0.1', '--jsonl', out, '--node', 'live-node']);
    const port = await udpExchange(3);
    await new Promise((r) => setTimeout(r, 500));
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const mine = readJsonl(out).filter((x) => x.dst_port === port);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ node: 'live-node', interface: 'lo', packets_tx: 3, packets_rx: 3, bytes_tx: 3 * 128, bytes_rx: 3 * 128, end_reason: 'shutdown' });
  });

  it('with the store: serves /health on the API and stores the flows', async () => {
    const data = join(dir, 'live-data');
    const run = await startRun(['--filter', 'udp and src host 127.0.0.1 and not port 9477', '--data-dir', data, '--listen', '127.0.0.1:0']);
    const api = String(run.line.api);
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await fetch(`${api}/health`);
    expect(health.status).toBe(200);
    const port = await udpExchange(2);
    await new Promise((r) => setTimeout(r, 500));
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    const instance = await DuckDBInstance.create(join(data, 'flows.duckdb'));
    const conn = await instance.connect();
    const rows = (await conn.runAndReadAll(`SELECT packets_tx, packets_rx FROM flows WHERE dst_port = ${port}`)).getRows();
    conn.closeSync();
    instance.closeSync();
    expect(rows.map((r) => r.map(Number))).toEqual([[2, 2]]);
  });
});
