/**
 * The flowmesh-agent Debian package on this machine, the way an operator uses it: built for
 * this architecture with deploy/debian/build.sh, installed with dpkg -i, configured by editing
 * /etc/flowmesh/agent.yaml (the mesh interface, HTTPS with a certificate from a private CA made
 * with the openssl commands of docs/deploy.md), the agent started exactly as the unit starts it
 * (systemd is not PID 1 here, so setpriv applies the unit's User=, AmbientCapabilities=,
 * CapabilityBoundingSet= and NoNewPrivileges= to its ExecStart=) inside a lab namespace where
 * it captures a wireguard-go tunnel; then without those capabilities; then an upgrade, removal
 * and purge. The machine is restored afterwards (package purged, user gone), also on failure.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { MIGRATIONS, SCHEMA_VERSION } from '../../agent/src/store/schema';
import { twoNodeTunnel, type TwoNodeTunnel } from '../../lab/src/topology';
import { ping, tcpTransfer } from '../../lab/src/traffic';
import { sleep } from '../../lab/src/run';
import type { Namespace } from '../../lab/src/netns';
import { DEBIAN_DIR, must, privileged, readUnit, run, unitCommand } from './support';

const PACKAGE = 'flowmesh-agent';
const CONFIG = '/etc/flowmesh/agent.yaml';
const TOKEN = '/etc/flowmesh/token';
const STATE = '/var/lib/flowmesh';
const TLS_DIR = '/etc/flowmesh/tls';
const PORT = 9477;

const installedStatus = () => run('dpkg-query', ['-W', '-f=${Status}', PACKAGE]).stdout;
const userExists = (name: string) => run('getent', ['passwd', name]).status === 0;
const groupExists = (name: string) => run('getent', ['group', name]).status === 0;

/** Everything systemd-related the maintainer scripts may leave behind. */
function systemdLeftovers(): string[] {
  const found: string[] = [];
  for (const dir of ['/etc/systemd/system', '/etc/systemd/system/multi-user.target.wants', '/var/lib/systemd/deb-systemd-helper-enabled',
    '/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants', '/var/lib/systemd/deb-systemd-helper-masked']) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) if (name.startsWith(PACKAGE)) found.push(join(dir, name));
  }
  return found;
}

/** A private CA and an agent certificate for 127.0.0.1, as docs/deploy.md makes them. */
function makeCertificates(workDir: string): { ca: string } {
  const ca = join(workDir, 'ca.crt');
  const caKey = join(workDir, 'ca.key');
  must('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650',
    '-subj', '/CN=Flowmesh test CA', '-keyout', caKey, '-out', ca]);
  mkdirSync(TLS_DIR, { recursive: true });
  const key = join(TLS_DIR, 'agent.key');
  const csr = join(workDir, 'agent.csr');
  const ext = join(workDir, 'agent.ext');
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  must('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=pkg-test', '-keyout', key, '-out', csr]);
  must('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '825', '-extfile', ext,
    '-out', join(TLS_DIR, 'agent.crt')]);
  // the key readable by the service's group only, as docs/deploy.md says
  must('chown', ['root:flowmesh', key]);
  must('chmod', ['0640', key]);
  return { ca };
}

/** The operator's edits: the tunnel interface, loopback listen address (inside the namespace), TLS, short flow timeouts. */
function editConfig(wgInterface: string): string {
  const packaged = readFileSync(CONFIG, 'utf8');
  const edits: Array<[string, string]> = [
    ['#node: gw-frankfurt', 'node: pkg-test'],
    ['  interface: any', `  interface: ${wgInterface}`],
    [`  listen: 0.0.0.0:${PORT}`, `  listen: 127.0.0.1:${PORT}`],
    ['  #tls: { cert: /etc/flowmesh/tls/agent.crt, key: /etc/flowmesh/tls/agent.key }', '  tls: { cert: /etc/flowmesh/tls/agent.crt, key: /etc/flowmesh/tls/agent.key }'],
  ];
  let edited = packaged;
  for (const [from, to] of edits) {
    if (!edited.includes(from)) throw new Error(`packaged ${CONFIG} no longer contains "${from}"`);
    edited = edited.replace(from, to);
  }
  edited += '\nflows:\n  active_timeout_s: 5\n  tcp_linger_s: 1\n  idle_timeout_s: { tcp: 10, tcp_unestablished: 3, udp: 3, icmp: 2, other: 3 }\n';
  writeFileSync(CONFIG, edited);
  return edited;
}

const TIMED_OUT = Symbol('timed out');

/** The promise's value, or TIMED_OUT after `ms` (the timer is cleared either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((done) => (timer = setTimeout(() => done(TIMED_OUT), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface RunningAgent {
  child: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  log(): string;
  /** SIGTERM (unless it already exited), then its exit code; throws when it hangs. */
  stop(): Promise<number | null>;
}

/** Starts the installed agent in `ns` the way the unit does. */
function startAsUnit(ns: Namespace, logName: string, overrideCapabilities?: string): RunningAgent {
  const { argv, env } = unitCommand(readUnit('/usr/lib/systemd/system/flowmesh-agent.service'));
  if (overrideCapabilities !== undefined) {
    for (const flag of ['--inh-caps', '--ambient-caps', '--bounding-set']) {
      const i = argv.findIndex((a) => a.startsWith(`${flag}=`));
      argv[i] = `${flag}=${overrideCapabilities}`;
    }
  }
  const child = ns.spawn(argv[0], argv.slice(1), { log: logName, env, stopGraceMs: 30_000 });
  const logFile = join(ns.lab.workDir, logName);
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    child,
    exited,
    log,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const outcome = await within(exited, 30_000);
      if (outcome === TIMED_OUT) throw new Error(`agent did not exit within 30 s of SIGTERM:\n${log()}`);
      return outcome;
    },
  };
}

async function waitForLog(agent: RunningAgent, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(agent.log())) return;
    if (agent.child.exitCode !== null) throw new Error(`agent exited ${agent.child.exitCode} before logging ${pattern}:\n${agent.log()}`);
    await sleep(100);
  }
  throw new Error(`agent did not log ${pattern} within ${timeoutMs} ms:\n${agent.log()}`);
}

/** POST /api/v1/query over HTTPS inside the namespace, trusting only the private CA. */
async function query(ns: Namespace, ca: string, body: object, token: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const out = await ns.runAsync('curl', ['-sS', '--cacert', ca, '-o', '-', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${token}`,
    '-H', 'Content-Type: application/json', '--data', JSON.stringify(body), `https://127.0.0.1:${PORT}/api/v1/query`], { timeoutMs: 15_000 });
  const lines = out.stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, json: JSON.parse(lines.join('\n') || '{}') };
}

type Row = Record<string, string | number | null>;

async function flowsOf(ns: Namespace, ca: string, token: string, protocol: string): Promise<Row[]> {
  const r = await query(ns, ca, { kind: 'flows', from: 0, to: Date.now() + 3_600_000, order: 'oldest', limit: 100,
    filters: [{ field: 'protocol', op: 'eq', value: protocol }] }, token);
  if (r.status !== 200) throw new Error(`query failed: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.records as Row[];
}

async function waitForFlows(ns: Namespace, ca: string, token: string, protocol: string, done: (rows: Row[]) => boolean): Promise<Row[]> {
  const deadline = Date.now() + 30_000;
  let rows: Row[] = [];
  while (Date.now() < deadline) {
    rows = await flowsOf(ns, ca, token, protocol);
    if (done(rows)) return rows;
    await sleep(500);
  }
  throw new Error(`no matching ${protocol} records within 30 s; got ${JSON.stringify(rows)}`);
}

/**
 * Takes a database back to schema version 1, as an older package left it: every migration's
 * added column dropped again (migrations so far only add columns; anything else fails here).
 */
async function downgradeToVersion1(db: string): Promise<void> {
  const instance = await DuckDBInstance.create(db);
  const connection = await instance.connect();
  try {
    for (const step of [...MIGRATIONS].reverse()) {
      for (const statement of [...step.statements].reverse()) {
        const added = /^ALTER TABLE (\w+) ADD COLUMN "?(\w+)"?/.exec(statement);
        if (!added) throw new Error(`cannot undo migration statement: ${statement}`);
        await connection.run(`ALTER TABLE ${added[1]} DROP COLUMN "${added[2]}"`);
      }
    }
    await connection.run("UPDATE flowmesh_meta SET value = '1' WHERE key = 'schema_version'");
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function schemaVersion(db: string): Promise<string> {
  const instance = await DuckDBInstance.create(db);
  const connection = await instance.connect();
  try {
    return String((await connection.runAndReadAll("SELECT value FROM flowmesh_meta WHERE key = 'schema_version'")).getRows()[0][0]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The capability and identity lines of a running process. */
function processStatus(pid: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const [key, value] = line.split(':\t');
    if (value !== undefined) fields[key] = value.trim();
  }
  return fields;
}

privileged('the Debian package test')(`${PACKAGE} Debian package on this machine`, () => {
  let deb = '';
  let tunnel: TwoNodeTunnel | undefined;
  let ca = '';
  let token = '';
  let wgName = '';
  let preexisting: string | undefined;

  beforeAll(() => {
    // never touch an operator's installation or account
    if (installedStatus() !== '' && !installedStatus().includes('not-installed')) preexisting = `${PACKAGE} is installed (${installedStatus()})`;
    else if (userExists('flowmesh') || groupExists('flowmesh')) preexisting = 'a user or group flowmesh exists';
    else if (existsSync('/etc/flowmesh') || existsSync(STATE)) preexisting = '/etc/flowmesh or /var/lib/flowmesh exists';
    if (preexisting) return;
    tunnel = twoNodeTunnel();
    wgName = tunnel.a.wg.name;
    const out = join(tunnel.lab.workDir, 'deb');
    deb = must('bash', [join(DEBIAN_DIR, 'build.sh'), '--out', out], { timeoutMs: 600_000 }).trim().split('\n').pop() as string;
  }, 660_000);

  afterAll(() => {
    tunnel?.lab.destroy(); // stops the agents it spawned first
    if (preexisting) return;
    run('dpkg', ['--purge', PACKAGE]);
    rmSync(TLS_DIR, { recursive: true, force: true });
    rmSync('/etc/flowmesh', { recursive: true, force: true });
    rmSync(STATE, { recursive: true, force: true });
    if (userExists('flowmesh')) run('deluser', ['--system', 'flowmesh']);
    if (groupExists('flowmesh')) run('delgroup', ['--system', 'flowmesh']);
  }, 120_000);

  const machine = () => {
    if (preexisting) throw new Error(`refusing to run on this machine: ${preexisting}`);
  };

  test('dpkg -i installs the agent, its user, the commented configuration, a private token and the state directory', () => {
    machine();
    expect(must('dpkg-deb', ['-f', deb, 'Architecture']).trim()).toBe(must('dpkg', ['--print-architecture']).trim());
    expect(must('dpkg-deb', ['-f', deb, 'Depends'])).toMatch(/nodejs \(>= 20\).*libpcap0\.8 \(>= [\d.]+\) \| libpcap0\.8t64/);
    must('dpkg', ['-i', deb]);
    expect(installedStatus()).toBe('install ok installed');

    const passwd = must('getent', ['passwd', 'flowmesh']).trim().split(':');
    expect(passwd[5]).toBe(STATE); // home
    expect(passwd[6]).toBe('/usr/sbin/nologin');
    expect(Number(passwd[2])).toBeLessThan(1000); // a system user

    const tokenStat = statSync(TOKEN);
    expect((tokenStat.mode & 0o777).toString(8)).toBe('600');
    expect(tokenStat.uid).toBe(Number(passwd[2]));
    token = readFileSync(TOKEN, 'utf8').trim();
    expect(token).toMatch(/^[0-9a-f]{64}$/);

    const stateStat = statSync(STATE);
    expect([stateStat.uid, (stateStat.mode & 0o777).toString(8)]).toEqual([Number(passwd[2]), '750']);
    expect(readFileSync(CONFIG, 'utf8')).toBe(readFileSync(join(DEBIAN_DIR, 'agent.yaml'), 'utf8'));
    expect(must('dpkg-query', ['-W', '-f=${Conffiles}', PACKAGE])).toContain(CONFIG);
    expect(must('/usr/bin/flowmesh-agent', ['--help'])).toContain('flowmesh-agent');
  });

  test('the installed unit passes systemd-analyze verify without a warning', () => {
    machine();
    const r = run('systemd-analyze', ['verify', '/usr/lib/systemd/system/flowmesh-agent.service']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('started as the unit starts it, the agent runs as flowmesh with exactly CAP_NET_RAW + CAP_NET_ADMIN and captures the WireGuard tunnel (HTTPS from the packaged configuration)', async () => {
    machine();
    const { a, b } = tunnel!;
    ca = makeCertificates(tunnel!.lab.workDir).ca;
    editConfig(wgName);
    const agent = startAsUnit(a.ns, 'agent-1.log');
    try {
      await waitForLog(agent, /"msg":"capturing"/);
      const status = processStatus(agent.child.pid!);
      expect(status.Uid.split('\t')[0]).toBe(must('id', ['-u', 'flowmesh']).trim());
      expect({ CapEff: status.CapEff, CapPrm: status.CapPrm, CapAmb: status.CapAmb, CapBnd: status.CapBnd, NoNewPrivs: status.NoNewPrivs })
        .toEqual({ CapEff: '0000000000003000', CapPrm: '0000000000003000', CapAmb: '0000000000003000', CapBnd: '0000000000003000', NoNewPrivs: '1' });

      expect(await ping(a.ns, b.wg.ip, 3)).toEqual({ transmitted: 3, received: 3 });
      const tcp = await tcpTransfer(a.ns, b.ns, b.wg.ip, 5001, 100_000, 2_000);
      const icmp = await waitForFlows(a.ns, ca, token, 'icmp', (rows) => rows.some((r) => r.record_kind === 'final'));
      expect(icmp).toEqual([expect.objectContaining({
        node: 'pkg-test', interface: wgName, direction: 'outbound', src_ip: a.wg.ip, dst_ip: b.wg.ip, packets_tx: 3, packets_rx: 3,
      })]);
      const [connection] = await waitForFlows(a.ns, ca, token, 'tcp', (rows) => rows.some((r) => r.src_port === tcp.clientPort && r.record_kind === 'final'));
      expect(connection).toMatchObject({ src_ip: a.wg.ip, dst_ip: b.wg.ip, dst_port: 5001, conn_state: 'SF', direction: 'outbound' });

      // the token from the token file is required
      const anonymous = await a.ns.runAsync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca, `https://127.0.0.1:${PORT}/info`]);
      expect(anonymous.stdout).toBe('401');
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    expect(agent.log()).toMatch(/"msg":"stopped"/);
    expect(existsSync(join(STATE, 'flows.duckdb'))).toBe(true);
  });

  test('without those capabilities the agent exits naming the missing one', async () => {
    machine();
    const agent = startAsUnit(tunnel!.a.ns, 'agent-nocaps.log', '-all');
    const code = await within(agent.exited, 30_000);
    if (code === TIMED_OUT) await agent.stop();
    expect(code).toBe(2);
    expect(agent.log()).toMatch(new RegExp(`cannot capture on interface '${wgName}': missing capability CAP_NET_RAW \\(opening the packet capture\\) and CAP_NET_ADMIN`));
  });

  test('an upgrade keeps the edited configuration, the token and the database; the new version migrates an older database on start and serves its records', async () => {
    machine();
    const db = join(STATE, 'flows.duckdb');
    // the database as a package with schema version 1 left it
    if (SCHEMA_VERSION > 1) {
      await downgradeToVersion1(db);
      must('chown', ['flowmesh:flowmesh', db]);
      expect(await schemaVersion(db)).toBe('1');
    }
    const configBefore = readFileSync(CONFIG, 'utf8');
    const unpacked = join(tunnel!.lab.workDir, 'unpacked');
    must('dpkg-deb', ['-R', deb, unpacked]);
    const control = join(unpacked, 'DEBIAN', 'control');
    const version = must('dpkg-deb', ['-f', deb, 'Version']).trim();
    writeFileSync(control, readFileSync(control, 'utf8').replace(`Version: ${version}`, `Version: ${version}+upgrade`));
    const newer = join(tunnel!.lab.workDir, 'newer.deb');
    must('dpkg-deb', ['--build', '--root-owner-group', '-Znone', unpacked, newer]);
    must('dpkg', ['-i', newer]);
    expect(must('dpkg-query', ['-W', '-f=${Version}', PACKAGE])).toBe(`${version}+upgrade`);
    expect(readFileSync(CONFIG, 'utf8')).toBe(configBefore);
    expect(existsSync(`${CONFIG}.dpkg-dist`) || existsSync(`${CONFIG}.dpkg-new`)).toBe(false);
    expect(readFileSync(TOKEN, 'utf8').trim()).toBe(token);

    const agent = startAsUnit(tunnel!.a.ns, 'agent-2.log');
    try {
      await waitForLog(agent, /"msg":"capturing"/);
      const icmp = await flowsOf(tunnel!.a.ns, ca, token, 'icmp');
      expect(icmp).toEqual([expect.objectContaining({ node: 'pkg-test', packets_tx: 3, packets_rx: 3 })]);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    expect(await schemaVersion(db)).toBe(String(SCHEMA_VERSION));
  });

  test('dpkg -r keeps configuration, token, database and user; dpkg -P removes them and leaves the machine as it was', () => {
    machine();
    must('dpkg', ['--remove', PACKAGE]);
    expect(installedStatus()).toBe('deinstall ok config-files');
    for (const gone of ['/usr/bin/flowmesh-agent', '/usr/lib/flowmesh-agent', '/usr/lib/systemd/system/flowmesh-agent.service']) {
      expect([gone, existsSync(gone)]).toEqual([gone, false]);
    }
    for (const kept of [CONFIG, TOKEN, join(STATE, 'flows.duckdb')]) expect([kept, existsSync(kept)]).toEqual([kept, true]);
    expect(userExists('flowmesh')).toBe(true);

    must('dpkg', ['--purge', PACKAGE]);
    expect(run('dpkg-query', ['-W', PACKAGE]).status).not.toBe(0);
    for (const gone of [CONFIG, TOKEN, STATE]) expect([gone, existsSync(gone)]).toEqual([gone, false]);
    expect([userExists('flowmesh'), groupExists('flowmesh')]).toEqual([false, false]);
    expect(systemdLeftovers()).toEqual([]);
    // what the operator added stays: only the TLS directory is left in /etc/flowmesh
    expect(readdirSync('/etc/flowmesh')).toEqual(['tls']);
    rmSync('/etc/flowmesh', { recursive: true, force: true });
  });
});
