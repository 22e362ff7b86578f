/**
 * The plugin backend as Grafana runs it, for end-to-end tests: the BUILT executable
 * (plugin/dist/gpx_flowmesh_linux_<arch>) launched over hashicorp go-plugin by the Go driver
 * plugin/test/e2e/driver, which relays health / query / resource calls as JSON lines. Frames
 * come back in Grafana's /api/ds/query JSON shape; the readers below turn them into rows
 * and series. The driver runs in the root namespace (it reaches the agents on the underlay),
 * or in a lab namespace to reach an agent listening on that namespace's loopback, and is a
 * lab process: the lab stops it, and the backend it launched, on tear-down.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { agentBuilt, AGENT_CLI } from '../agent';
import type { Lab, Namespace } from '../netns';
import { runAsync, stopProcessSync } from '../run';

export const PLUGIN_DIR = resolve(__dirname, '..', '..', '..', 'plugin');
/** Go's name for this machine's CPU (Grafana picks the executable by it). */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm' };
/** What Grafana loads on this machine: built by `bash scripts/build-plugin-backend.sh --host-only` (npm test does it first). */
export const BACKEND_EXECUTABLE = join(PLUGIN_DIR, 'dist', `gpx_flowmesh_linux_${GO_ARCH[process.arch] ?? process.arch}`);
const DRIVER_PACKAGE = './test/e2e/driver';
const REQUEST_TIMEOUT_MS = 70_000;

/** The Go toolchain: `go` on the PATH, else the usual install location. */
export function goBinary(): string | null {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'go')), '/usr/local/go/bin/go'];
  return candidates.find((path) => path !== 'go' && existsSync(path)) ?? null;
}

/** Newest modification time (ms) of the backend's Go sources: a newer source than the executable means a stale build. */
export function newestBackendSourceMs(dir = join(PLUGIN_DIR, 'pkg')): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestBackendSourceMs(path));
    else if (entry.name.endsWith('.go') && !entry.name.endsWith('_test.go')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * What a test through the plugin backend needs before it starts: the built agent, the built
 * backend executable (only a warning when it is older than its sources) and Go for the
 * driver. Throws naming what is missing and how to get it; returns the Go binary.
 */
export function requireBackendTestBuilds(): string {
  if (!agentBuilt()) throw new Error(`the agent is not built (${AGENT_CLI} missing): run \`npm run build -w agent\``);
  if (!existsSync(BACKEND_EXECUTABLE)) {
    throw new Error(`the plugin backend is not built (${BACKEND_EXECUTABLE} missing): run \`bash scripts/build-plugin-backend.sh --host-only\``);
  }
  if (statSync(BACKEND_EXECUTABLE).mtimeMs < newestBackendSourceMs()) {
    console.warn(`!!! ${BACKEND_EXECUTABLE} is older than plugin/pkg sources: testing a stale build (bash scripts/build-plugin-backend.sh --host-only)`);
  }
  const go = goBinary();
  if (!go) throw new Error('Go is not installed (needed to build the e2e driver plugin/test/e2e/driver)');
  return go;
}

/** Compiles the driver into `outDir` (the Go build cache makes repeat builds a link step). */
export async function buildDriver(go: string, outDir: string): Promise<string> {
  const out = join(outDir, 'flowmesh-e2e-driver');
  const result = await runAsync(go, ['-C', PLUGIN_DIR, 'build', '-o', out, DRIVER_PACKAGE], { timeoutMs: 240_000 });
  if (result.code !== 0) throw new Error(`go build ${DRIVER_PACKAGE} failed (${result.code ?? result.signal}):\n${result.stderr}`);
  return out;
}

/** Data source settings as provisioned (jsonData + secureJsonData). */
export interface DataSourceSettings {
  jsonData: { agents: { name: string; url: string }[]; [key: string]: unknown };
  secureJsonData: Record<string, string>;
}

/** A field's config as the plugin sets it (Grafana's FieldConfig JSON). */
export interface FieldConfigJson {
  displayName?: string;
  displayNameFromDS?: string;
  unit?: string;
  filterable?: boolean;
  links?: { title?: string; url: string }[];
  [key: string]: unknown;
}

/** A data frame in Grafana's JSON shape. */
export interface FrameJson {
  schema: {
    name?: string;
    refId?: string;
    meta?: {
      type?: string;
      typeVersion?: number[];
      preferredVisualisationType?: string;
      notices?: { severity: string; text: string }[];
      custom?: Record<string, unknown>;
    };
    fields: { name: string; type: string; labels?: Record<string, string>; config?: FieldConfigJson }[];
  };
  data: { values: unknown[][] };
}

export interface DataResponse {
  status?: number;
  error?: string;
  errorSource?: string;
  frames?: FrameJson[];
}

export interface HealthResult {
  status: string;
  message: string;
  details?: { agents?: { name: string; ok: boolean; status: string; message?: string }[] };
}

export interface TimeRange {
  from: number;
  to: number;
}

type Answer = {
  id: number;
  error?: string;
  health?: HealthResult;
  queryData?: { results: Record<string, DataResponse> };
  resource?: { status: number; body: string };
};

export class PluginBackend {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (a: Answer) => void; reject: (e: Error) => void }>();
  private exited: string | null = null;
  private onReady: (pid: number) => void = () => undefined;
  /** Resolves with the backend's pid once the go-plugin handshake is done. */
  private readonly ready: Promise<number>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly settings: DataSourceSettings,
    /** Where the driver and the backend log (stderr). */
    readonly logFile: string,
  ) {
    this.ready = new Promise<number>((resolveReady, rejectReady) => {
      this.onReady = resolveReady;
      child.once('exit', () => rejectReady(new Error(this.exited ?? 'driver exited')));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => this.onLine(line));
    child.on('exit', (code, signal) => {
      this.exited = `plugin backend driver exited (${code ?? signal}); log ${logFile}`;
      for (const p of this.pending.values()) p.reject(new Error(this.exited));
      this.pending.clear();
    });
  }

  /**
   * Starts the driver (which launches `executable`), inside `ns` when given, and waits for
   * the handshake to finish.
   */
  static async start(
    lab: Lab, driver: string, settings: DataSourceSettings, executable = BACKEND_EXECUTABLE, ns?: Namespace,
  ): Promise<PluginBackend> {
    const logFile = join(lab.workDir, 'plugin-backend.log');
    const logFd = openSync(logFile, 'a');
    // `ip netns exec` execs the driver: the child's pid stays the driver's
    const [command, args] = ns ? ['ip', ['netns', 'exec', ns.name, driver, '--executable', executable]] : [driver, ['--executable', executable]];
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', logFd] });
    closeSync(logFd);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${driver}`);
    const backend = new PluginBackend(child, settings, logFile);
    let backendPid = 0;
    // The driver stops the backend on SIGTERM; the backend's own pid is the fallback.
    lab.track(`plugin backend driver (${pid})`, () => {
      stopProcessSync(pid, 5000);
      if (backendPid > 0) stopProcessSync(backendPid, 1000);
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`plugin backend not ready within 60 s; log ${logFile}`)), 60_000);
    });
    try {
      backendPid = await Promise.race([backend.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return backend;
  }

  /** CheckHealth over gRPC. */
  async health(): Promise<HealthResult> {
    const answer = await this.call({ op: 'health' });
    return answer.health as HealthResult;
  }

  /**
   * QueryData with the given plugin query models (each with a refId; optional per-query
   * timeRange, intervalMs, maxDataPoints). Returns the response per refId.
   */
  async query(queries: object[], range: TimeRange, headers?: Record<string, string>): Promise<Record<string, DataResponse>> {
    const answer = await this.call({ op: 'query', queries, from: range.from, to: range.to, ...(headers ? { headers } : {}) });
    return answer.queryData?.results ?? {};
  }

  /** One query that must succeed: its frames. */
  async frames(query: object, range: TimeRange): Promise<FrameJson[]> {
    const refId = 'A';
    const response = (await this.query([{ ...query, refId }], range))[refId];
    if (!response) throw new Error(`no response for ${JSON.stringify(query)}`);
    if (response.error || (response.status !== undefined && response.status !== 200)) {
      throw new Error(`query ${JSON.stringify(query)} failed (${response.status}): ${response.error}`);
    }
    return response.frames ?? [];
  }

  /** CallResource: status and body text. */
  async resource(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    const answer = await this.call({ op: 'resource', method, path, ...(body === undefined ? {} : { body }) });
    return answer.resource as { status: number; body: string };
  }

  /** Closes the driver's input: it stops the backend and exits. */
  async stop(): Promise<void> {
    if (this.exited !== null) return;
    const exited = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  private call(request: Record<string, unknown>): Promise<Answer> {
    if (this.exited !== null) return Promise.reject(new Error(this.exited));
    const id = this.nextId++;
    return new Promise<Answer>((resolveCall, rejectCall) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        rejectCall(new Error(`plugin backend: no answer to ${String(request.op)} within ${REQUEST_TIMEOUT_MS} ms; log ${this.logFile}`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (answer) => {
          clearTimeout(timer);
          if (answer.error) rejectCall(new Error(`plugin backend ${String(request.op)}: ${answer.error}`));
          else resolveCall(answer);
        },
        reject: (error) => {
          clearTimeout(timer);
          rejectCall(error);
        },
      });
      this.child.stdin?.write(`${JSON.stringify({ id, settings: this.settings, ...request })}\n`);
    });
  }

  private onLine(line: string): void {
    let answer: Answer & { event?: string; pid?: number };
    try {
      answer = JSON.parse(line) as Answer & { event?: string; pid?: number };
    } catch {
      return;
    }
    if (answer.event === 'ready') {
      this.onReady(answer.pid ?? 0);
      return;
    }
    const waiting = this.pending.get(answer.id);
    if (!waiting) return;
    this.pending.delete(answer.id);
    waiting.resolve(answer);
  }
}

/** A frame's rows as objects keyed by field name (time fields stay epoch ms). */
export function frameRows(frame: FrameJson): Record<string, unknown>[] {
  const fields = frame.schema.fields;
  const count = frame.data.values[0]?.length ?? 0;
  return Array.from({ length: count }, (_, row) => Object.fromEntries(fields.map((f, i) => [f.name, frame.data.values[i][row]])));
}

/** Notices the backend attached (e.g. partial data when an agent did not answer). */
export function notices(frames: readonly FrameJson[]): string[] {
  return frames.flatMap((f) => (f.schema.meta?.notices ?? []).map((n) => `${n.severity}: ${n.text}`));
}
