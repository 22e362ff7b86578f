/**
 * The agent's HTTP API (Fastify): routes, auth, validation, error mapping and time limits
 * (admission and queueing are the query engine's). It owns no data: queries go to a QueryBackend (the query engine), figures
 * come from AgentMetrics and an info callback. Listening is the server composition's job.
 *
 * Bounds on what a client can hold (connections.ts has the connection-level ones): a
 * request's headers must arrive within header_timeout_ms and the whole request within
 * request_timeout_ms (Node checks both every CHECK_INTERVAL_MS; 408, then closed); idle
 * keep-alive connections close after keep_alive_timeout_ms; an unauthenticated request is
 * answered 401 before its body is read and its connection closed; a query the engine would
 * refuse (overload) is refused 429 before its body is read.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import { FlowRecordSchema } from '../model/flow';
import {
  API_VERSION, ApiErrorSchema, FilterSchema, LiveInfoSchema, QueryResultSchema, QuerySchema, TotalsSchema,
  type FlowsQuery, type FlowsResult, type Query, type QueryResult,
} from '../model/query';
import type { AgentMetrics } from '../metrics';
import { clientKey, limitConnections } from './connections';
import { csvChunks, exportQuery } from './csv';
import { DeadlineError, toErrorReply } from './errors';
import { AgentInfoSchema, HealthSchema, type AgentInfo } from './info';
import { loadTls, type HttpOptions } from './options';
import { InputError, parseQuery } from './validate';

export interface QueryRunOptions {
  /** The client asking (connections.ts clientKey): admission is fair across clients. */
  client: string;
  timeoutMs: number;
  rowBudget: number;
  /** Aborted when the client goes away, the deadline passes or the agent shuts down. */
  signal: AbortSignal;
}

/** What the HTTP layer needs from the query engine (agent/src/query QueryEngine); it admits, queues and refuses (BusyError). */
export interface QueryBackend {
  run(query: Query, options: QueryRunOptions): Promise<QueryResult>;
  /** The error a query of this client would be refused with right now, or null; asked before the body is read. */
  refusal(client: string): Error | null;
}

export interface HttpDeps {
  options: HttpOptions;
  backend: QueryBackend;
  metrics: AgentMetrics;
  version: string;
  info(): AgentInfo | Promise<AgentInfo>;
  /** Cheap, for every /health request: degraded (HTTP 503) with the reasons, or ok. Absent: always ok. */
  health?(): { status: 'ok' | 'degraded'; problems: string[] };
  /** pino logger; none = silent. */
  logger?: Logger;
}

export interface HttpApi {
  app: FastifyInstance;
  /** Aborts every running query (shutdown after the grace period). */
  abortQueries(): void;
}

/** Extra time the engine gets to report its own timeout before the HTTP layer gives up on it. */
const DEADLINE_SLACK_MS = 1000;
/** How often Node checks header and request deadlines (its default, 30 s, would let them overrun by that much). */
const CHECK_INTERVAL_MS = 500;
/** A connection may be silent this much longer than the longest a query can take before it counts as stalled. */
const STALL_SLACK_MS = 5000;
const QUERY_ROUTES = new Set(['/api/v1/query', '/api/v1/export.csv']);

/** Why Node gave up on a request before it reached a route (fastify's clientErrorHandler). */
const CLIENT_ERRORS: Record<string, { status: number; error: string; message: string; reason: 'timeout' | 'malformed' }> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408, error: 'timeout', reason: 'timeout',
    message: 'the request did not arrive in time (http.header_timeout_ms / http.request_timeout_ms)',
  },
  HPE_HEADER_OVERFLOW: { status: 431, error: 'headers_too_large', reason: 'malformed', message: 'request headers too large' },
};
const MALFORMED = { status: 400, error: 'bad_request', reason: 'malformed' as const, message: 'malformed HTTP request' };
const SHARED_SCHEMAS = [FlowRecordSchema, FilterSchema, QuerySchema, TotalsSchema, LiveInfoSchema, QueryResultSchema, ApiErrorSchema,
  AgentInfoSchema, HealthSchema];

const ref = (id: string) => ({ $ref: `${id}#` });
const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: 'ApiError', ...ref('ApiError') }]));

/**
 * A schema as an OpenAPI component: nested schemas that have their own $id (Filter inside
 * Query) become references, so each is defined once.
 */
function asComponent(schema: object): object {
  const replaceNested = (value: unknown, depth: number): unknown => {
    if (Array.isArray(value)) return value.map((item) => replaceNested(item, depth + 1));
    if (typeof value !== 'object' || value === null) return value;
    const record = value as Record<string, unknown>;
    if (depth > 0 && typeof record.$id === 'string') return { $ref: record.$id };
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, replaceNested(v, depth + 1)]));
  };
  return replaceNested(schema, 0) as object;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

export async function buildHttpApi(deps: HttpDeps): Promise<HttpApi> {
  const { options, backend, metrics } = deps;
  // Node's own per-request deadlines (fastify passes `http`/`https` to createServer; it sets requestTimeout itself).
  const deadlines = {
    headersTimeout: options.header_timeout_ms,
    connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, options.header_timeout_ms),
  };
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // Requests are logged at debug level by the onResponse hook below; 5xx by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.body_limit_bytes,
    requestTimeout: options.request_timeout_ms,
    keepAliveTimeout: options.keep_alive_timeout_ms,
    clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const answer = CLIENT_ERRORS[error.code ?? ''] ?? MALFORMED;
      metrics.apiConnectionClosed(answer.reason);
      const body = JSON.stringify({ error: answer.error, message: answer.message });
      if (socket.writable) {
        socket.write(`HTTP/1.1 ${answer.status} ${answer.error}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
      socket.destroy();
    },
    ...(options.tls ? { https: { ...loadTls(options.tls), ...deadlines } } : { http: deadlines }),
  });
  limitConnections(app.server, {
    maxConnections: options.max_connections,
    maxPerClient: options.max_connections_per_client,
    stalledMs: options.query_timeout_ms + DEADLINE_SLACK_MS + STALL_SLACK_MS,
  }, metrics);
  const running = new Set<AbortController>();

  // Every reply is plain JSON.stringify: the union result schemas are documentation, and a
  // schema-driven serializer would silently drop fields it failed to match.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const schema of SHARED_SCHEMAS) app.addSchema(asComponent(schema));
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Flowmesh agent API',
        version: `${API_VERSION}.0.0`,
        description: 'Structured flow-log queries against one Flowmesh node agent. Errors are ApiError objects.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json.$id ?? `schema${i}`) },
  });

  const expectedDigest = options.token ? sha256(options.token) : undefined;
  app.addHook('onRequest', async (request, reply) => {
    if (!expectedDigest) return;
    const route = request.routeOptions.url;
    if (route === '/health' || (route === '/metrics' && !options.metrics_auth)) return;
    const match = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '');
    // Comparing fixed-length digests keeps the comparison constant-time whatever the input length.
    if (match && timingSafeEqual(sha256(match[1]!), expectedDigest)) return;
    // Answered before the body is read; closing the connection means an unauthenticated
    // client cannot keep it (and a file descriptor) by never finishing its body.
    metrics.apiConnectionClosed('unauthorized');
    reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="flowmesh"')
      .header('connection', 'close')
      .send({ error: 'unauthorized', message: match ? 'invalid token' : 'missing Authorization: Bearer <token> header' });
    return reply;
  });
  // Overload is shed before a query's body is read and validated: refusing is then cheap.
  app.addHook('onRequest', async (request) => {
    if (request.method !== 'POST' || !QUERY_ROUTES.has(request.routeOptions.url ?? '')) return;
    const refusal = backend.refusal(clientKey(request.socket.remoteAddress));
    if (refusal) throw refusal;
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request');
    metrics.observeApiRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode,
      reply.elapsedTime / 1000);
  });
  // Responses finishing while the agent shuts down close their connection, so close() does not
  // wait out keep-alive timeouts of clients that just got their answer.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorReply(error, options.query_timeout_ms);
    if (answer.status >= 500) {
      const level = answer.status === 500 ? 'error' : 'warn';
      request.log[level]({ err: error, status: answer.status, route: request.routeOptions.url }, answer.body.message);
    }
    reply.code(answer.status).headers(answer.headers ?? {}).send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!.slice(0, 200);
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${path}` });
  });

  /** Runs one query (or export page) under the time limit, aborting it when the client leaves. */
  const runWithDeadline = async (query: Query, request: FastifyRequest, reply: FastifyReply): Promise<QueryResult> => {
    const controller = new AbortController();
    running.add(controller);
    const onClose = () => controller.abort();
    reply.raw.once('close', onClose);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new DeadlineError(options.query_timeout_ms));
      }, options.query_timeout_ms + DEADLINE_SLACK_MS);
    });
    const work = Promise.resolve().then(() =>
      backend.run(query, {
        client: clientKey(request.socket.remoteAddress), timeoutMs: options.query_timeout_ms, rowBudget: options.row_budget,
        signal: controller.signal,
      }),
    );
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      running.delete(controller);
    }
  };

  const bodyValidator = (parse: (body: unknown) => Query) => () => (body: unknown) => {
    try {
      return { value: parse(body) };
    } catch (error) {
      return { error: error as Error };
    }
  };
  const parseFlowsQuery = (body: unknown): Query => {
    const query = parseQuery(body);
    if (query.kind !== 'flows') throw new InputError('kind', `export.csv takes a flows query (got kind '${query.kind}')`);
    return query;
  };

  app.post(
    '/api/v1/query',
    {
      validatorCompiler: bodyValidator(parseQuery),
      schema: {
        summary: 'Run a structured query (flows, top, timeseries, summary, values)',
        body: ref('Query'),
        response: { 200: { description: 'QueryResult', ...ref('QueryResult') }, ...errorResponses(400, 401, 413, 429, 503, 504) },
      },
    },
    async (request: FastifyRequest, reply) => runWithDeadline(request.body as Query, request, reply),
  );

  app.post(
    '/api/v1/export.csv',
    {
      validatorCompiler: bodyValidator(parseFlowsQuery),
      schema: {
        summary: 'Every record of a flows query as CSV (all pages; cursor ignored)',
        body: ref('Query'),
        response: {
          200: { description: 'RFC 4180 CSV with a header row', content: { 'text/csv': { schema: { type: 'string' } } } },
          ...errorResponses(400, 401, 413, 429, 503, 504),
        },
      },
    },
    async (request, reply) => {
      const query = exportQuery(request.body as FlowsQuery, options.row_budget);
      const fetchPage = async (page: FlowsQuery) => (await runWithDeadline(page, request, reply)) as FlowsResult;
      // The first page is fetched before the 200 goes out, so its errors still get a proper status.
      const first = await fetchPage(query);
      const stream = Readable.from(csvChunks(query, first, fetchPage), { objectMode: false });
      stream.once('error', (error) => request.log.error({ err: error }, 'CSV export failed mid-stream'));
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', 'attachment; filename="flows.csv"');
      return reply.send(stream);
    },
  );

  app.get(
    '/api/v1/openapi.json',
    { schema: { summary: 'This document', hide: true } },
    async () => app.swagger(),
  );

  app.get(
    '/health',
    {
      schema: {
        summary: 'Health (no auth): 200 ok, or 503 degraded naming the problems (store writes failing, damaged file quarantined)',
        security: [],
        response: { 200: { description: 'Health', ...ref('Health') }, 503: { description: 'Health', ...ref('Health') } },
      },
    },
    async (_request, reply) => {
      const health = deps.health?.() ?? { status: 'ok' as const, problems: [] };
      reply.code(health.status === 'ok' ? 200 : 503);
      return { status: health.status, version: deps.version, ...(health.problems.length ? { problems: health.problems } : {}) };
    },
  );

  app.get(
    '/info',
    {
      schema: {
        summary: 'Node name, versions, interfaces, addresses, capture and store figures',
        response: { 200: { description: 'AgentInfo', ...ref('AgentInfo') }, ...errorResponses(401) },
      },
    },
    async () => deps.info(),
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (no auth unless metrics_auth)',
        // Documented as optionally authenticated so the document is the same whatever the setting.
        security: [{}, { bearer: [] }],
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => {
      const { contentType, body } = await metrics.scrape();
      return reply.type(contentType).send(body);
    },
  );

  await app.ready();
  return {
    // Plain or TLS server and our logger type: callers only use listen/inject/close/server.
    app: app as unknown as FastifyInstance,
    abortQueries: () => {
      for (const controller of running) controller.abort();
    },
  };
}
