/**
 * Flowmesh agents as real processes inside lab namespaces: `node agent/dist/cli.js ...`
 * started with `ip netns exec`, logs to a file in the lab's work directory, stopped with
 * SIGTERM (which makes the agent flush every open flow). Also reads the agent's JSON-lines
 * output back.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Namespace } from './netns';
import { sleep } from './run';

/** The built agent CLI (lab/src or lab/dist -> agent/dist/cli.js). */
export const AGENT_CLI = resolve(__dirname, '..', '..', 'agent', 'dist', 'cli.js');

export function agentBuilt(): boolean {
  return existsSync(AGENT_CLI);
}

export interface AgentProcess {
  ns: Namespace;
  child: ChildProcess;
  logFile: string;
  /** Text the agent logged so far. */
  log(): string;
  /** SIGTERM, wait for exit; rejects when the agent exits non-zero or hangs. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Starts `flowmesh-agent <args>` inside `ns`; `logName` names its log file in the lab work directory. */
export function startAgent(ns: Namespace, args: readonly string[], logName: string): AgentProcess {
  if (!agentBuilt()) throw new Error(`agent not built: ${AGENT_CLI} missing (npm run build -w agent)`);
  const logFile = join(ns.lab.workDir, logName);
  const child = ns.spawn(process.execPath, [AGENT_CLI, ...args], { log: logName, stopGraceMs: 10_000 });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  return {
    ns,
    child,
    logFile,
    log,
    stop: async (timeoutMs = 15_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        let timer: NodeJS.Timeout | undefined;
        const exited = new Promise<'exited'>((done) => child.once('exit', () => done('exited')));
        const hung = new Promise<'hung'>((done) => (timer = setTimeout(() => done('hung'), timeoutMs)));
        child.kill('SIGTERM');
        const outcome = await Promise.race([exited, hung]);
        clearTimeout(timer);
        if (outcome === 'hung') {
          child.kill('SIGKILL');
          throw new Error(`agent in ${ns.name} did not exit within ${timeoutMs} ms of SIGTERM; log:\n${tail(log())}`);
        }
      }
      if (child.exitCode !== 0) throw new Error(`agent in ${ns.name} exited with ${child.exitCode ?? child.signalCode}; log:\n${tail(log())}`);
    },
  };
}

/** Waits until the agent's log matches `pattern` (bounded); fails early if the agent exits. */
export async function waitForLog(agent: AgentProcess, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(agent.log())) return;
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) {
      throw new Error(`agent in ${agent.ns.name} exited (${agent.child.exitCode ?? agent.child.signalCode}) before logging ${pattern}:\n${tail(agent.log())}`);
    }
    await sleep(50);
  }
  throw new Error(`agent in ${agent.ns.name} did not log ${pattern} within ${timeoutMs} ms:\n${tail(agent.log())}`);
}

/** Polls `url` (no auth: /health) until it answers 200 (bounded). */
export async function waitForHealth(agent: AgentProcess, url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) {
      throw new Error(`agent in ${agent.ns.name} exited (${agent.child.exitCode ?? agent.child.signalCode}):\n${tail(agent.log())}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`agent at ${url} not healthy within ${timeoutMs} ms (${last}):\n${tail(agent.log())}`);
}

/** Parses a JSON-lines file (one object per line). */
export function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}
