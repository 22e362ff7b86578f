/**
 * Running commands for the lab: synchronous for set-up and tear-down steps (fast, ordered,
 * and usable from a process 'exit' handler), asynchronous for traffic and captures that
 * must run while other things happen. Every call has a time limit; failures carry the
 * command line and its stderr so a broken topology says what broke.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(`command failed (exit ${exitCode}): ${command}${stderr ? `\n${stderr.trim()}` : ''}`);
  }
}

/** Runs a command to completion and returns its stdout; throws CommandError on failure. */
export function runSync(cmd: string, args: readonly string[], options: RunOptions = {}): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      input: options.input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as { stderr?: string | Buffer; status?: number | null; message: string };
    const stderr = e.stderr ? String(e.stderr) : e.message;
    throw new CommandError([cmd, ...args].join(' '), stderr, e.status ?? null);
  }
}

/** Like runSync but never throws: for tear-down, where one failure must not stop the rest. */
export function tryRunSync(cmd: string, args: readonly string[], options: RunOptions = {}): boolean {
  try {
    runSync(cmd, args, options);
    return true;
  } catch {
    return false;
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs a command asynchronously, collecting its output; kills it (SIGKILL) past the time limit. */
export function runAsync(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code, signal });
    });
    if (child.stdin) {
      // A command that exits without reading its input must not fail the run with EPIPE.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
  });
}

/** Blocks the thread for a short while: only for bounded polling in synchronous tear-down. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True while the process exists and is not a zombie waiting to be reaped. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Stops a process synchronously: SIGTERM, up to `graceMs` to exit, then SIGKILL. Synchronous
 * so it also works from an 'exit' handler.
 */
export function stopProcessSync(pid: number, graceMs = 3000): void {
  if (!processAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && processAlive(pid)) sleepSync(20);
  if (processAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Stops a child we spawned and waits (asynchronously) for it to exit. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;
