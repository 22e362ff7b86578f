/**
 * Load generator for the overload section, run as its own process so that the bench's own
 * event loop never limits (or flatters) the figures. One job per run, given as JSON in argv[2];
 * prints one JSON result line.
 *
 * - `loop`: `connections` keep-alive connections, each sending the next query as soon as the
 *   last answer arrived (closed loop, no think time), each cycling through `queries`, for
 *   `seconds`. A 429 is not waited out (Retry-After ignored): the worst case for the agent.
 * - `sequential`: `count` queries one after the other on one connection (a separate client).
 * - `slow`: `connections` connections that each send request headers announcing a body and
 *   then stall (`body`: without a token, part of the body; `headers`: half the headers), held
 *   until the agent closes them or `seconds` pass.
 */
import http from 'node:http';
import net from 'node:net';

interface Target {
  url: string;
  token: string;
  /** Source address (127.0.0.x), so the agent sees a separate client. */
  localAddress?: string;
}
type Job =
  | (Target & { kind: 'loop'; connections: number; seconds: number; queries: unknown[] })
  | (Target & { kind: 'sequential'; count: number; query: unknown })
  | (Target & { kind: 'slow'; connections: number; seconds: number; stall: 'body' | 'headers' });

function post(target: Target, agent: http.Agent, body: string): Promise<{ status: number | string; ms: number }> {
  const url = new URL(target.url);
  const started = performance.now();
  return new Promise((resolve) => {
    const request = http.request({
      host: url.hostname, port: url.port, path: '/api/v1/query', method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${target.token}`, 'content-length': Buffer.byteLength(body) },
    }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, ms: performance.now() - started }));
      response.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? 'error', ms: performance.now() - started }));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? 'error', ms: performance.now() - started }));
    request.end(body);
  });
}

const count = (tally: Record<string, number>, key: string | number) => (tally[key] = (tally[key] ?? 0) + 1);

async function loop(job: Extract<Job, { kind: 'loop' }>) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: job.connections, localAddress: job.localAddress });
  const bodies = job.queries.map((q) => JSON.stringify(q));
  const statuses: Record<string, number> = {};
  const okMs: number[] = [];
  const end = performance.now() + job.seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: job.connections }, async (_, c) => {
    // Each connection goes through every query in turn, so the answers have the same mix at
    // every connection count (a connection that always asked the same query would let the
    // cheap queries come round more often when few connections wait, flattering small counts).
    for (let i = c; performance.now() < end; i++) {
      const { status, ms } = await post(job, agent, bodies[i % bodies.length]!);
      count(statuses, status);
      if (status === 200) okMs.push(ms);
    }
  }));
  agent.destroy();
  return { statuses, okMs, seconds: (performance.now() - started) / 1000 };
}

async function sequential(job: Extract<Job, { kind: 'sequential' }>) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: job.localAddress });
  const body = JSON.stringify(job.query);
  const statuses: Record<string, number> = {};
  const okMs: number[] = [];
  for (let i = 0; i < job.count; i++) {
    const { status, ms } = await post(job, agent, body);
    count(statuses, status);
    if (status === 200) okMs.push(ms);
  }
  agent.destroy();
  return { statuses, okMs };
}

async function slow(job: Extract<Job, { kind: 'slow' }>) {
  const url = new URL(job.url);
  const head = job.stall === 'headers'
    ? 'POST /api/v1/query HTTP/1.1\r\nHost: agent\r\n'
    : 'POST /api/v1/query HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"kind":';
  const answers: Record<string, number> = {};
  const closedAfterMs: number[] = [];
  let open = 0;
  await Promise.all(Array.from({ length: job.connections }, () => new Promise<void>((resolve) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port), localAddress: job.localAddress });
    let started = 0;
    let first = '';
    let settled = false;
    const hold = setTimeout(() => {
      settled = true;
      open++;
      socket.destroy();
      resolve();
    }, job.seconds * 1000);
    socket.on('connect', () => {
      started = performance.now();
      socket.write(head);
    });
    socket.on('data', (data) => (first ||= data.toString('latin1').split('\r\n')[0]!));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (settled) return;
      settled = true;
      clearTimeout(hold);
      count(answers, first || '(closed without an answer)');
      closedAfterMs.push(started ? performance.now() - started : 0);
      resolve();
    });
  })));
  return { answers, closedAfterMs, stillOpen: open };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2]!) as Job;
  const result = job.kind === 'loop' ? await loop(job) : job.kind === 'sequential' ? await sequential(job) : await slow(job);
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
