/**
 * Known traffic between lab namespaces, driven through traffic/tool.js (servers and clients
 * that report exactly what they sent and received) and ping. Every helper is bounded in
 * time; servers are lab processes, so the lab stops any that are still running.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Namespace } from './netns';

const TOOL = join(__dirname, 'traffic', 'tool.js');
const DEFAULT_TIMEOUT_MS = 10_000;

export type ToolResult = Record<string, unknown> & { event: string };

export interface Server {
  child: ChildProcess;
  /** Resolves with the final result line (done / timeout / error) when the server exits. */
  result: Promise<ToolResult>;
}

/** Starts a tool.js server in `ns` and resolves once it listens. */
export async function startServer(ns: Namespace, command: string, args: Record<string, string | number>): Promise<Server> {
  const timeoutMs = Number(args.timeout ?? DEFAULT_TIMEOUT_MS);
  const child = ns.spawn(process.execPath, [TOOL, command, ...toArgv({ timeout: timeoutMs, ...args })]);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let resolveReady: () => void = () => undefined;
  let rejectReady: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  const result = new Promise<ToolResult>((resolve) => {
    let last: ToolResult = { event: 'exit' };
    lines.on('line', (line) => {
      const parsed = parseLine(line);
      if (!parsed) return;
      if (parsed.event === 'ready') resolveReady();
      else last = parsed;
    });
    child.on('close', (code) => {
      rejectReady(new Error(`${command} in ${ns.name} exited (${code}) before it was ready: ${JSON.stringify(last)} ${stderr}`));
      resolve(last);
    });
  });
  await ready;
  return { child, result };
}

/** Runs a tool.js client in `ns` to completion and returns its result line. */
export async function runClient(ns: Namespace, command: string, args: Record<string, string | number>): Promise<ToolResult> {
  const timeoutMs = Number(args.timeout ?? DEFAULT_TIMEOUT_MS);
  const out = await ns.runAsync(process.execPath, [TOOL, command, ...toArgv({ timeout: timeoutMs, ...args })], {
    timeoutMs: timeoutMs + 2000,
  });
  const lines = out.stdout.trim().split('\n').map(parseLine).filter((l): l is ToolResult => l !== null);
  const last = lines.filter((l) => l.event !== 'socket-error').pop();
  if (!last) throw new Error(`${command} in ${ns.name} printed no result (exit ${out.code}): ${out.stderr}`);
  return last;
}

export interface TcpTransferResult {
  /** Client's ephemeral port. */
  clientPort: number;
  clientSent: number;
  clientReceived: number;
  serverReceived: number;
}

/**
 * A complete TCP connection: the client sends exactly `sendBytes`, (keeps the connection
 * open `holdMs`,) half-closes, the server answers exactly `replyBytes` and closes (SYN, data
 * both ways, FIN both ways).
 */
export async function tcpTransfer(
  client: Namespace, server: Namespace, serverIp: string, port: number, sendBytes: number, replyBytes: number, holdMs = 0,
): Promise<TcpTransferResult> {
  const srv = await startServer(server, 'tcp-serve', { host: serverIp, port, reply: replyBytes, timeout: holdMs + DEFAULT_TIMEOUT_MS });
  const cli = await runClient(client, 'tcp-send', { host: serverIp, port, bytes: sendBytes, hold: holdMs, timeout: holdMs + DEFAULT_TIMEOUT_MS });
  const done = await srv.result;
  const connection = (done.connections as Array<{ received: number }> | undefined)?.[0];
  if (cli.event !== 'done' || !connection) throw new Error(`TCP transfer failed: client ${JSON.stringify(cli)}, server ${JSON.stringify(done)}`);
  return {
    clientPort: Number(cli.localPort),
    clientSent: Number(cli.sent),
    clientReceived: Number(cli.received),
    serverReceived: connection.received,
  };
}

/** One UDP request of `requestBytes` answered by one reply of `replyBytes`. Returns the client port. */
export async function udpExchange(
  client: Namespace, server: Namespace, serverIp: string, port: number, requestBytes: number, replyBytes: number,
): Promise<{ clientPort: number; received: number }> {
  const srv = await startServer(server, 'udp-serve', { host: serverIp, port, reply: replyBytes });
  const cli = await runClient(client, 'udp-send', { host: serverIp, port, bytes: requestBytes });
  await srv.result;
  if (cli.event !== 'done') throw new Error(`UDP exchange failed: ${JSON.stringify(cli)}`);
  return { clientPort: Number(cli.localPort), received: Number(cli.received) };
}

export type ConnectOutcome = 'connected' | 'reset' | 'refused' | 'timeout' | 'error';

/**
 * Opens a TCP connection and reports how it went; gives up after `waitMs` (before the first
 * SYN retransmission). `reset`: abort an established connection with an RST (the
 * originator's reset, Zeek's RSTO) instead of closing it.
 */
export async function tcpConnect(ns: Namespace, host: string, port: number, waitMs = 700, reset = false): Promise<ConnectOutcome> {
  const result = await runClient(ns, 'tcp-connect', { host, port, wait: waitMs, timeout: waitMs + 2000, ...(reset ? { reset: 1 } : {}) });
  return (result.outcome as ConnectOutcome | undefined) ?? 'error';
}

/** The ping command: iputils `ping` when installed, else BusyBox's (same options used here). */
function pingCommand(): string[] {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) if (existsSync(join(dir, 'ping'))) return [join(dir, 'ping')];
  for (const dir of ['/usr/bin', '/bin']) if (existsSync(join(dir, 'busybox'))) return [join(dir, 'busybox'), 'ping'];
  throw new Error('no ping: install iputils-ping (or busybox)');
}

/** Sends `count` echo requests 0.2 s apart; returns how many were sent and answered. */
export async function ping(ns: Namespace, host: string, count: number): Promise<{ transmitted: number; received: number }> {
  const [cmd, ...pre] = pingCommand();
  const deadlineS = Math.ceil(count * 0.2) + 3;
  const out = await ns.runAsync(cmd, [...pre, '-c', String(count), '-i', '0.2', '-W', '1', '-w', String(deadlineS), host], {
    timeoutMs: (deadlineS + 2) * 1000,
  });
  const match = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out.stdout);
  if (!match) throw new Error(`ping output not understood: ${out.stdout} ${out.stderr}`);
  return { transmitted: Number(match[1]), received: Number(match[2]) };
}

function toArgv(args: Record<string, string | number>): string[] {
  return Object.entries(args).flatMap(([key, value]) => [`--${key}`, String(value)]);
}

function parseLine(line: string): ToolResult | null {
  try {
    const parsed = JSON.parse(line) as unknown;
    return parsed && typeof parsed === 'object' && 'event' in parsed ? (parsed as ToolResult) : null;
  } catch {
    return null;
  }
}
