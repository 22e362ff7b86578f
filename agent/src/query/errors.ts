/**
 * Typed query errors: the HTTP layer maps each to its status (QueryInputError 400,
 * RowBudgetError 413, QueryTimeoutError 504, BusyError 429, QueryCancelledError: client gone).
 */

/** A request the schema accepts but that makes no sense (bad CIDR, from >= to, bad cursor...). */
export class QueryInputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'QueryInputError';
  }
}

export class QueryTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`query took longer than ${timeoutMs} ms and was cancelled; narrow the time range or add filters`);
    this.name = 'QueryTimeoutError';
  }
}

export class RowBudgetError extends Error {
  constructor(
    readonly rows: number,
    readonly budget: number,
  ) {
    super(`the answer needs ${rows} rows, more than the row budget of ${budget}; lower limit/split_limit or widen interval_ms`);
    this.name = 'RowBudgetError';
  }
}

/** Refused at admission (overload); `retryAfterS` is when trying again makes sense. */
export class BusyError extends Error {
  constructor(
    readonly running: number,
    readonly queued: number,
    readonly retryAfterS: number,
    why: string,
  ) {
    super(`too many concurrent queries (${running} running, ${queued} waiting): ${why}; retry in ${retryAfterS} s`);
    this.name = 'BusyError';
  }
}

/** The caller's AbortSignal fired (e.g. the HTTP client went away); the DuckDB query was interrupted. */
export class QueryCancelledError extends Error {
  constructor() {
    super('query cancelled by the caller');
    this.name = 'QueryCancelledError';
  }
}
