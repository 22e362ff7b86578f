/**
 * Child processes for tools under test: wall time, peak RSS and CPU time (GNU time's %M, %U
 * and %S: the largest member of the process tree as the kernel reports it, and the user +
 * system CPU of the process and the children it waited for), output capture,
 * a hard time limit, and a registry so that every process still running is stopped when
 * the bench exits, fails or is interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  /** Peak resident set size in bytes (0 when not measured or GNU time is not available). */
  peakRssBytes: number;
  /** User + system CPU seconds of the process (NaN when not measured or GNU time is not available). */
  cpuSeconds: number;
  stdout: string;
  stderr: string;
}

export interface RunToolOptions {
  /** Kill after this many seconds (the run then fails). */
  timeoutS?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Measure peak RSS and CPU time through GNU time (/usr/bin/time). */
  usage?: boolean;
  /** Exit codes counted as success (default [0]). */
  okCodes?: number[];
  /** Discard stdout (large outputs). */
  quietStdout?: boolean;
}

const running = new Set<ChildProcess>();
let hooks = false;

/** Stops every child still running (SIGTERM, then SIGKILL after a grace period). Synchronous-safe. */
export function stopAllChildren(): void {
  for (const child of running) killGroup(child, 'SIGKILL');
  running.clear();
}

/**
 * Children started here run in their own process group (so a wrapper like GNU time never
 * leaves its command behind); children started elsewhere (the lab harness) are signalled alone.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function installHooks(): void {
  if (hooks) return;
  hooks = true;
  process.on('exit', stopAllChildren);
}

export const GNU_TIME = '/usr/bin/time';

/** Starts a long-running child (a collector, an agent) that the caller stops; it is tracked for cleanup. */
export function startTracked(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  installHooks();
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Collects a tracked child's output as text. */
export function collectOutput(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  return { stdout: () => Buffer.concat(out).toString(), stderr: () => Buffer.concat(err).toString() };
}

/** Sends SIGTERM, waits up to graceMs, then SIGKILL; resolves when the child is gone. */
export async function stopChild(child: ChildProcess, graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, signal);
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

let rssFileCounter = 0;

/** Runs a command to completion and measures it. Rejects on a non-ok exit, a signal or the time limit. */
export function runTool(cmd: string, args: readonly string[], options: RunToolOptions = {}): Promise<Measured> {
  installHooks();
  const rssFile = join(tmpdir(), `flowmesh-bench-rss-${process.pid}-${rssFileCounter++}`);
  const useTime = options.usage === true && existsSync(GNU_TIME);
  const [file, argv] = useTime ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', options.quietStdout ? 'ignore' : 'pipe', 'pipe'], detached: true });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer = options.timeoutS
      ? setTimeout(() => {
          timedOut = true;
          killGroup(child, 'SIGKILL');
        }, options.timeoutS * 1000)
      : undefined;
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new Error(`${cmd}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      let peakRssBytes = 0;
      let cpuSeconds = NaN;
      if (useTime && existsSync(rssFile)) {
        // the last line (GNU time puts "Command exited with non-zero status N" before it)
        const usage = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(rssFile, 'utf8').trim());
        if (usage) {
          peakRssBytes = Number(usage[1]) * 1024;
          cpuSeconds = Number(usage[2]) + Number(usage[3]);
        }
        rmSync(rssFile, { force: true });
      }
      const result: Measured = { code, signal, seconds, peakRssBytes, cpuSeconds, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      const ok = (options.okCodes ?? [0]).includes(code ?? -1);
      if (timedOut) reject(new Error(`${cmd} exceeded its ${options.timeoutS} s limit`));
      else if (!ok) reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`));
      else resolve(result);
    });
  });
}

/** A TCP or UDP port free on 127.0.0.1 right now (the OS picks it). */
export function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  return new Promise((resolve, reject) => {
    if (kind === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        const { port } = socket.address();
        socket.close(() => resolve(port));
      });
      return;
    }
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when an executable is on PATH. */
export function haveCommand(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, name)));
}
