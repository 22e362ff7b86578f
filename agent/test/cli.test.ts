/**
 * The agent CLI as a real process (agent/dist/cli.js, rebuilt here when sources are newer):
 * import to JSON lines and to DuckDB, exit codes 1 (runtime) and 2 (usage/config) with
 * messages naming the problem, and records kept when a capture file is corrupt.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { scenario, writePcap } from './pipeline-pcap';

const AGENT = resolve(__dirname, '..');
const CLI = join(AGENT, 'dist', 'cli.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

beforeAll(() => {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource(join(AGENT, 'src'))) return;
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: AGENT, stdio: 'pipe' });
  } catch {
    // type errors elsewhere in the tree still emit JavaScript; the CLI's own freshness is checked below
  }
  expect(statSync(CLI).mtimeMs).toBeGreaterThanOrEqual(statSync(join(AGENT, 'src', 'cli.ts')).mtimeMs);
}, 120_000);

const dir = mkdtempSync(join(tmpdir(), 'fm-cli-'));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FLOWMESH_TOKEN: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
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

  it('import --db writes the records into a DuckDB file', async () => {
    const db = join(dir, 'data', 'flows.duckdb');
    const r = cli('import', pcap, '--db', db, '--log-level', 'warn');
    expect(r.code).toBe(0);
    const instance = await DuckDBInstance.create(db);
    const conn = await instance.connect();
    const rows = (await conn.runAndReadAll('SELECT count(*), sum(bytes_tx + bytes_rx) FROM flows')).getRows();
    conn.closeSync();
    instance.closeSync();
    expect(Number(rows[0][0])).toBe(expected.length);
    expect(Number(rows[0][1])).toBe(expected.reduce((a, e) => a + e.bytes_tx + e.bytes_rx, 0));
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
