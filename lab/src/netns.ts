/**
 * Network-namespace topologies (root only): namespaces, veth pairs, bridges, addresses,
 * routes, forwarding, firewall rules and processes running inside namespaces. A Lab owns
 * everything it creates and deletes it in reverse order on destroy(), on process exit and
 * on SIGINT/SIGTERM (see cleanup.ts).
 *
 * Naming: every namespace and interface is called `fm-<run id>-<role>`, where the run id is
 * random per Lab. Interface names are unique across namespaces on purpose: wireguard-go's
 * control socket (/var/run/wireguard/<ifname>.sock) lives in one directory shared by all
 * namespaces, and unique names also keep concurrent runs apart. Linux caps interface names
 * at 15 characters, which leaves 7 for the role. `lab/scripts/cleanup` removes leftovers of
 * runs that were killed too hard to clean up (SIGKILL) by the `fm-` prefix.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CleanupRegistry } from './cleanup';
import { runAsync, runSync, stopProcessSync, tryRunSync, type RunOptions, type RunResult } from './run';

export const NAME_PREFIX = 'fm-';
const MAX_IFNAME = 15;
const ROLE_PATTERN = /^[a-z0-9][a-z0-9-]*$/;

export interface SpawnOptions {
  /** Log file name inside the lab's work directory for stdout+stderr; default: pipes. */
  log?: string;
  env?: NodeJS.ProcessEnv;
  /** SIGTERM grace before SIGKILL when the lab tears down. */
  stopGraceMs?: number;
}

export class Namespace {
  constructor(
    readonly lab: Lab,
    readonly name: string,
  ) {}

  /** Runs a command inside the namespace and returns its stdout. */
  run(cmd: string, args: readonly string[] = [], options?: RunOptions): string {
    return runSync('ip', ['netns', 'exec', this.name, cmd, ...args], options);
  }

  runAsync(cmd: string, args: readonly string[] = [], options?: RunOptions): Promise<RunResult> {
    return runAsync('ip', ['netns', 'exec', this.name, cmd, ...args], options);
  }

  /** `ip -n <ns> ...` */
  ip(...args: string[]): string {
    return runSync('ip', ['-n', this.name, ...args]);
  }

  addAddress(ifname: string, cidr: string): void {
    this.ip('addr', 'add', cidr, 'dev', ifname);
  }

  linkUp(ifname: string): void {
    this.ip('link', 'set', ifname, 'up');
  }

  /** Adds a route: through a gateway address, or straight out of an interface. */
  addRoute(destination: string, via: { gateway?: string; dev?: string }): void {
    const args = ['route', 'add', destination];
    if (via.gateway) args.push('via', via.gateway);
    if (via.dev) args.push('dev', via.dev);
    this.ip(...args);
  }

  /** Turns the namespace into a router (IPv4 and IPv6 forwarding). */
  enableForwarding(): void {
    this.run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    this.run('sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
  }

  /** Loads an nftables ruleset (text in `nft -f` syntax) into this namespace. */
  nft(ruleset: string): void {
    this.run('nft', ['-f', '-'], { input: ruleset });
  }

  /**
   * Silently drops inbound TCP to these ports (a firewall that "blackholes" them): the
   * client's SYN arrives (and is captured) but nothing ever answers.
   */
  dropInboundTcp(ports: readonly number[]): void {
    const set = ports.map((p) => String(p)).join(', ');
    this.nft(
      `table inet fm_lab_drop {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport { ${set} } drop\n  }\n}\n`,
    );
  }

  /**
   * Drops the first SYN of every connection to `port` (later SYNs of the same client
   * address and port pass): the client retransmits after its initial RTO (1 s on Linux), so
   * each handshake takes about a second, like a SYN lost on the path.
   */
  dropFirstSyn(port: number): void {
    this.nft(
      'table inet fm_lab_first_syn {\n' +
        '  set seen { type ipv4_addr . inet_service; flags dynamic, timeout; timeout 5m; }\n' +
        '  chain input {\n    type filter hook input priority 0; policy accept;\n' +
        `    tcp dport ${port} tcp flags & (syn | ack) == syn ip saddr . tcp sport != @seen add @seen { ip saddr . tcp sport } drop\n` +
        '  }\n}\n',
    );
  }

  /**
   * Starts a long-running process inside the namespace. The lab stops it (SIGTERM, then
   * SIGKILL) on tear-down unless it already exited. `ip netns exec` execs the command, so
   * the child's pid is the command's own pid.
   */
  spawn(cmd: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    let stdio: StdioOptions = ['ignore', 'pipe', 'pipe'];
    let logFd: number | undefined;
    if (options.log) {
      logFd = openSync(join(this.lab.workDir, options.log), 'a');
      stdio = ['ignore', logFd, logFd];
    }
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], {
      stdio,
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    if (logFd !== undefined) closeSync(logFd);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${cmd} in ${this.name}`);
    this.lab.track(`process ${cmd} (${pid}) in ${this.name}`, () => {
      if (child.exitCode === null && child.signalCode === null) stopProcessSync(pid, options.stopGraceMs);
    });
    return child;
  }
}

export class Lab {
  /** Random per-run id, part of every name this lab creates. */
  readonly id: string;
  /** Scratch directory (keys, logs, captures); removed on tear-down unless FLOWMESH_LAB_KEEP=1. */
  readonly workDir: string;
  readonly namespaces: Namespace[] = [];
  private readonly registry = new CleanupRegistry();
  private readonly usedNames = new Set<string>();
  private destroyed = false;

  constructor() {
    this.id = randomBytes(2).toString('hex');
    this.workDir = mkdtempSync(join(tmpdir(), `${NAME_PREFIX}${this.id}-`));
    const workDir = this.workDir;
    this.track(`work directory ${workDir}`, () => {
      if (process.env.FLOWMESH_LAB_KEEP === '1') process.stderr.write(`[lab] kept ${workDir}\n`);
      else rmSync(workDir, { recursive: true, force: true });
    });
  }

  /** Records how to undo something this lab created (undone newest first). */
  track(label: string, undo: () => void): void {
    if (this.destroyed) throw new Error('lab already destroyed');
    this.registry.add(label, undo);
  }

  /** The unique kernel name for a role: `fm-<id>-<role>`, at most 15 characters. */
  nameFor(role: string): string {
    if (!ROLE_PATTERN.test(role)) throw new Error(`bad role name "${role}": use a-z, 0-9 and -`);
    const name = `${NAME_PREFIX}${this.id}-${role}`;
    if (name.length > MAX_IFNAME) throw new Error(`role "${role}" too long: "${name}" exceeds ${MAX_IFNAME} characters`);
    if (this.usedNames.has(name)) throw new Error(`name "${name}" already used in this lab`);
    this.usedNames.add(name);
    return name;
  }

  /** Creates a namespace with its loopback up. */
  namespace(role: string): Namespace {
    const name = this.nameFor(role);
    runSync('ip', ['netns', 'add', name]);
    this.track(`namespace ${name}`, () => {
      tryRunSync('ip', ['netns', 'del', name]);
    });
    const ns = new Namespace(this, name);
    ns.linkUp('lo');
    this.namespaces.push(ns);
    return ns;
  }

  /**
   * Joins two namespaces with a veth pair, created directly inside them; each end gets its
   * address (CIDR) and is brought up. Returns the two interface names. The pair dies with
   * either namespace, so only a pair with an end in the root namespace needs its own undo.
   */
  veth(a: Namespace | null, aRole: string, aCidr: string | null, b: Namespace, bRole: string, bCidr: string | null): [string, string] {
    const aName = this.nameFor(aRole);
    const bName = this.nameFor(bRole);
    const aPlace = a ? ['netns', a.name] : [];
    runSync('ip', ['link', 'add', aName, ...aPlace, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name]);
    if (!a) this.track(`link ${aName}`, () => void tryRunSync('ip', ['link', 'del', aName]));
    const ip = (ns: Namespace | null, ...args: string[]) => (ns ? ns.ip(...args) : runSync('ip', args));
    if (aCidr) ip(a, 'addr', 'add', aCidr, 'dev', aName);
    if (bCidr) b.addAddress(bName, bCidr);
    ip(a, 'link', 'set', aName, 'up');
    b.linkUp(bName);
    return [aName, bName];
  }

  /** Creates a bridge inside a namespace (an "underlay switch"), up. */
  bridge(ns: Namespace, role: string): string {
    const name = this.nameFor(role);
    ns.ip('link', 'add', name, 'type', 'bridge');
    ns.linkUp(name);
    return name;
  }

  /** Attaches an interface to a bridge in the same namespace. */
  attach(ns: Namespace, ifname: string, bridgeName: string): void {
    ns.ip('link', 'set', ifname, 'master', bridgeName);
  }

  /** Tears everything down (idempotent). Returns the steps that failed, if any. */
  destroy(): string[] {
    if (!this.destroyed) {
      this.registry.runAll();
      this.destroyed = true;
    }
    return this.registry.failures;
  }
}
