/**
 * The kernel's connection tracking through Debian's `conntrack` tool (conntrack-tools): a
 * dump of the translated connections at start (`conntrack -L --any-nat`), then their NEW and
 * DESTROY events (`conntrack -E -e NEW,DESTROY --any-nat`), parsed from the tool's default
 * text output into the NAT table. Needs CAP_NET_ADMIN (the agent has it; systemd passes it on
 * as an ambient capability) and the netfilter conntrack netlink interface of the node's
 * network namespace.
 *
 * A lost-events warning (ENOBUFS: the netlink socket buffer overflowed under a burst of new
 * connections) is counted and answered with a fresh dump. When the event process ends by
 * itself it is restarted after a back-off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { ConntrackConnection, ConntrackTuple, NatTable } from './table';

export type ConntrackEventType = 'NEW' | 'UPDATE' | 'DESTROY';

export interface ConntrackLine {
  /** null for dump lines (no event type). */
  event: ConntrackEventType | null;
  connection: ConntrackConnection;
}

const EVENT = /^\[(NEW|UPDATE|DESTROY)\]$/;

/**
 * Parses one line of `conntrack -L` / `conntrack -E` default output, e.g.
 *   [NEW] tcp      6 120 SYN_SENT src=10.9.0.2 dst=198.51.100.2 sport=39874 dport=8000 [UNREPLIED] src=198.51.100.2 dst=198.51.100.1 sport=8000 dport=39874
 *   icmp     1 28 src=10.9.0.2 dst=198.51.100.2 type=8 code=0 id=20811 src=198.51.100.2 dst=198.51.100.1 type=0 code=0 id=20811 mark=0 use=1
 * Returns null for lines that are not a connection (summaries, warnings) or lack a tuple.
 * Ports: sport/dport, or the ICMP echo identifier on both sides (0 when absent).
 */
export function parseConntrackLine(line: string): ConntrackLine | null {
  const tokens = line.trim().split(/\s+/);
  let at = 0;
  let event: ConntrackEventType | null = null;
  const match = EVENT.exec(tokens[0] ?? '');
  if (match) {
    event = match[1] as ConntrackEventType;
    at = 1;
  }
  const protocol = Number(tokens[at + 1]);
  if (!/^[a-z0-9-]+$/.test(tokens[at] ?? '') || !Number.isInteger(protocol) || protocol < 0 || protocol > 255) return null;
  const tuples: Partial<Record<'src' | 'dst' | 'sport' | 'dport' | 'type' | 'code' | 'id', string>>[] = [];
  for (let i = at + 2; i < tokens.length; i++) {
    const eq = tokens[i].indexOf('=');
    if (eq <= 0) continue;
    const name = tokens[i].slice(0, eq);
    const value = tokens[i].slice(eq + 1);
    if (name === 'src') {
      if (tuples.length === 2) break; // anything after the reply tuple (e.g. a connection id) is not ours
      tuples.push({});
    }
    const current = tuples[tuples.length - 1];
    if (!current || !['src', 'dst', 'sport', 'dport', 'type', 'code', 'id'].includes(name) || name in current) continue;
    current[name as keyof (typeof tuples)[number]] = value;
  }
  if (tuples.length !== 2) return null;
  const toTuple = (t: (typeof tuples)[number]): ConntrackTuple | null => {
    if (!t.src || !t.dst) return null;
    const echoId = t.id === undefined ? 0 : Number(t.id);
    const srcPort = t.sport === undefined ? echoId : Number(t.sport);
    const dstPort = t.dport === undefined ? echoId : Number(t.dport);
    if (![srcPort, dstPort].every((p) => Number.isInteger(p) && p >= 0 && p <= 65535)) return null;
    return { src: t.src, dst: t.dst, srcPort, dstPort };
  };
  const original = toTuple(tuples[0]);
  const reply = toTuple(tuples[1]);
  if (!original || !reply) return null;
  const icmpType = tuples[0].type === undefined ? null : Number(tuples[0].type);
  const icmpCode = tuples[0].code === undefined ? null : Number(tuples[0].code);
  return { event, connection: { protocol, original, reply, icmpType, icmpCode } };
}

export interface ConntrackStats {
  /** Connection lines applied (dump and events). */
  lines: number;
  /** Lost-events warnings (netlink buffer overflow). */
  overruns: number;
  /** Event process (re)starts. */
  starts: number;
  /** Whether the event process is running. */
  running: boolean;
}

export interface ConntrackFeedOptions {
  /** The conntrack executable (default `conntrack` on the PATH). */
  command?: string;
  /** Netlink receive buffer for events, bytes. */
  bufferBytes?: number;
  /** Restart back-off after the event process ended, ms (doubles up to 60 s). */
  restartMs?: number;
}

const FILTER = ['--any-nat'];

/** Feeds a NatTable from conntrack's dump and events until stopped. */
export class ConntrackFeed {
  readonly stats: ConntrackStats = { lines: 0, overruns: 0, starts: 0, running: false };
  private events: ChildProcess | null = null;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private readonly command: string;

  constructor(private readonly table: NatTable, private readonly logger: Logger, private readonly options: ConntrackFeedOptions = {}) {
    this.command = options.command ?? 'conntrack';
    this.backoffMs = options.restartMs ?? 5000;
  }

  /** Starts the event process, then loads a dump; resolves once the dump is in the table. */
  async start(): Promise<void> {
    this.startEvents();
    await this.dump();
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.events?.kill('SIGTERM');
    this.events = null;
    this.stats.running = false;
  }

  private apply(line: string): void {
    const parsed = parseConntrackLine(line);
    if (!parsed) return;
    this.stats.lines++;
    if (parsed.event === 'DESTROY') this.table.destroy(parsed.connection);
    else this.table.add(parsed.connection);
  }

  /** Loads `conntrack -L --any-nat` (the translated connections that exist now). */
  dump(): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn(this.command, ['-L', ...FILTER], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      createInterface({ input: child.stdout }).on('line', (line) => this.apply(line));
      child.on('error', (error) => {
        this.logger.warn({ err: error }, 'conntrack dump failed: NAT links start with new connections only');
        resolve();
      });
      child.on('close', (code) => {
        if (code !== 0) this.logger.warn({ code, stderr: stderr.trim().slice(0, 500) }, 'conntrack dump failed: NAT links start with new connections only');
        resolve();
      });
    });
  }

  private startEvents(): void {
    if (this.stopped) return;
    const args = ['-E', '-e', 'NEW,DESTROY', ...FILTER, '--buffer-size', String(this.options.bufferBytes ?? 8 * 1024 * 1024)];
    const child = spawn(this.command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.events = child;
    this.stats.starts++;
    this.stats.running = true;
    const startedMs = Date.now();
    createInterface({ input: child.stdout }).on('line', (line) => this.apply(line));
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (/ENOBUFS|losing events/i.test(line)) {
        this.stats.overruns++;
        this.logger.warn({ overruns: this.stats.overruns }, 'conntrack lost events (netlink buffer full): reloading the NAT table from a dump');
        void this.dump();
      } else if (line.trim() && !/flow events have been shown|^NOTICE/.test(line.trim())) {
        this.logger.warn({ message: line.trim().slice(0, 500) }, 'conntrack');
      }
    });
    const ended = (reason: unknown) => {
      if (this.events !== child) return;
      this.events = null;
      this.stats.running = false;
      if (this.stopped) return;
      // a process that ran a while was healthy: start over with the short back-off
      if (Date.now() - startedMs > 60_000) this.backoffMs = this.options.restartMs ?? 5000;
      this.logger.warn({ reason, restartInMs: this.backoffMs }, 'conntrack event process ended: NAT links pause until it restarts');
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.startEvents();
        void this.dump();
      }, this.backoffMs);
      this.restartTimer.unref();
      this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
    };
    child.on('error', (error) => ended(error.message));
    child.on('exit', (code, signal) => ended(signal ?? `exit code ${code}`));
  }
}
