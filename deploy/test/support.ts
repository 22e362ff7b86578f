/**
 * What the deploy tests share: paths, the systemd unit read as directives, the unit's
 * ExecStart reproduced with setpriv (the user, ambient capabilities, bounding set and
 * no-new-privileges the unit gives the agent), and gates for root and missing tools.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO = resolve(__dirname, '..', '..');
export const DEBIAN_DIR = join(REPO, 'deploy', 'debian');
export const UNIT_FILE = join(DEBIAN_DIR, 'flowmesh-agent.service');

export const isRoot = process.getuid?.() === 0;

/** Tests that need root (dpkg -i, namespaces, capture) run as root, skip loudly otherwise, and fail under CI. */
export function privileged(what: string): jest.Describe {
  if (isRoot) return describe;
  if (process.env.CI) throw new Error(`CI must run ${what} as root (it installs a Debian package and captures in a namespace)`);
  console.warn(`\n!!! SKIPPING ${what}: needs root (dpkg -i, network namespaces, packet capture). Run as root, as CI does.\n`);
  return describe.skip;
}

/** Tests that need a tool the set-up installs skip loudly without it, and fail under CI. */
export function withTool(tool: string, what: string, gate: jest.It = test): jest.It {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0) return gate;
  if (process.env.CI) throw new Error(`CI must run ${what}, but ${tool} is missing (scripts/bootstrap.sh --test installs it)`);
  console.warn(`\n!!! SKIPPING ${what}: ${tool} is missing (scripts/bootstrap.sh --test installs it)\n`);
  return test.skip;
}

/** A unit file's directives by section: `Service.User` -> ['flowmesh']; repeated keys accumulate. */
export type Unit = Record<string, Record<string, string[]>>;

export function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`unit line without '=': ${line}`);
    const key = line.slice(0, eq).trim();
    (unit[section][key] ??= []).push(line.slice(eq + 1).trim());
  }
  return unit;
}

export const readUnit = (path = UNIT_FILE): Unit => parseUnit(readFileSync(path, 'utf8'));

/** The single value of a directive (throws when it is missing or repeated). */
export function directive(unit: Unit, section: string, key: string): string {
  const values = unit[section]?.[key];
  if (!values || values.length !== 1) throw new Error(`[${section}] ${key}= is set ${values?.length ?? 0} times`);
  return values[0];
}

/** Capability names of a directive's value, e.g. 'CAP_NET_RAW CAP_NET_ADMIN' -> ['net_admin', 'net_raw']. */
export const capabilityNames = (value: string): string[] =>
  value.split(/\s+/).filter(Boolean).map((c) => c.replace(/^CAP_/, '').toLowerCase()).sort();

/**
 * The unit's service as a command line without systemd (not PID 1 here): setpriv switches to
 * User=/Group=, hands over AmbientCapabilities= (inheritable + ambient), limits the bounding
 * set to CapabilityBoundingSet= and sets no-new-privileges, then runs ExecStart= with its
 * Environment=. The sandbox directives (ProtectSystem=, ...) need systemd and are not applied.
 */
export function unitCommand(unit: Unit): { argv: string[]; env: Record<string, string> } {
  const ambient = capabilityNames(directive(unit, 'Service', 'AmbientCapabilities'));
  const bounding = capabilityNames(directive(unit, 'Service', 'CapabilityBoundingSet'));
  const caps = (names: string[]) => ['-all', ...names.map((n) => `+${n}`)].join(',');
  const argv = [
    'setpriv',
    `--reuid=${directive(unit, 'Service', 'User')}`,
    `--regid=${directive(unit, 'Service', 'Group')}`,
    '--init-groups',
    `--inh-caps=${caps(ambient)}`,
    `--ambient-caps=${caps(ambient)}`,
    `--bounding-set=${caps(bounding)}`,
  ];
  if (directive(unit, 'Service', 'NoNewPrivileges') === 'yes') argv.push('--no-new-privs');
  argv.push(...directive(unit, 'Service', 'ExecStart').split(/\s+/));
  const env: Record<string, string> = {};
  for (const assignment of unit.Service.Environment ?? []) {
    const [key, ...value] = assignment.split('=');
    env[key] = value.join('=');
  }
  return { argv, env };
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: options.input, env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command and returns stdout; throws with its output when it fails. */
export function must(cmd: string, args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const r = run(cmd, args, options);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
