/**
 * One place that turns any failure into the API's error answer: status, `ApiError` body and
 * headers. Client mistakes keep their message (it names the field); everything unexpected
 * becomes a generic 500 whose details go to the log only, never to the client.
 */
import type { ApiError } from '../model/query';
import { InputError } from './validate';

export interface ErrorReply {
  status: number;
  body: ApiError;
  headers?: Record<string, string>;
}

/** The HTTP layer's own deadline fired before the backend answered. */
export class DeadlineError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`query exceeded ${timeoutMs} ms`);
    this.name = 'DeadlineError';
  }
}

/** The engine is closed (shutdown) or DuckDB lost its database (I/O failure, invalidated after a fatal error). */
const STORE_UNAVAILABLE = /^query engine closed$|^IO Error|database has been invalidated|^Connection Error/i;

const STATUS_ERRORS: Record<number, string> = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed',
  406: 'not_acceptable', 408: 'timeout', 411: 'length_required', 413: 'payload_too_large', 414: 'uri_too_long',
  415: 'unsupported_media_type', 429: 'too_many_requests', 431: 'headers_too_large',
};

interface ErrorLike {
  name?: string;
  message?: string;
  field?: string;
  statusCode?: number;
  code?: string;
  retryAfterS?: number;
}

/**
 * Query-engine errors (agent/src/query/errors.ts) are matched by their `name`, so the HTTP
 * layer depends on the engine's documented error names rather than its module.
 */
export function toErrorReply(error: unknown, timeoutMs: number): ErrorReply {
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as ErrorLike;
  if (error instanceof InputError || e.name === 'QueryInputError') {
    const body: ApiError = { error: 'bad_request', message: e.message ?? 'bad request' };
    if (e.field) {
      // One path notation for every 400: the engine writes filters[0].value, the validator filters/0/value.
      body.field = e.field.replace(/\[(\d+)\]/g, '/$1').replace(/\./g, '/');
      if (body.message.startsWith(`${e.field}:`)) body.message = body.field + body.message.slice(e.field.length);
    }
    return { status: 400, body };
  }
  switch (e.name) {
    case 'BusyError':
      return {
        status: 429, body: { error: 'too_many_requests', message: e.message ?? 'busy' },
        headers: { 'retry-after': String(e.retryAfterS ?? 1) },
      };
    case 'DeadlineError':
    case 'QueryTimeoutError':
      return {
        status: 504,
        body: { error: 'timeout', message: `query exceeded the ${timeoutMs} ms timeout (query_timeout_ms); narrow the time range or add filters` },
      };
    case 'RowBudgetError':
      return { status: 413, body: { error: 'row_budget_exceeded', message: e.message ?? 'row budget exceeded' } };
    case 'StoreUnavailableError':
      // The store is reopening or replacing its database (agent/src/store): its message says why.
      return { status: 503, body: { error: 'unavailable', message: e.message ?? 'the flow store is recovering' }, headers: { 'retry-after': '5' } };
    case 'QueryCancelledError':
      // The client left (nobody reads this) or the agent is shutting down.
      return { status: 503, body: { error: 'unavailable', message: 'query cancelled (the client disconnected or the agent is shutting down)' } };
  }
  if (STORE_UNAVAILABLE.test(e.message ?? '')) {
    return {
      status: 503, body: { error: 'unavailable', message: 'the flow store cannot answer queries right now; see the agent log' },
      headers: { 'retry-after': '5' },
    };
  }
  const status = e.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return { status, body: { error: STATUS_ERRORS[status] ?? 'bad_request', message: e.message ?? 'bad request' } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error; see the agent log' } };
}
