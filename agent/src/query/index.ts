/**
 * The query engine: structured queries (agent/src/model/query.ts) -> SQL over the flow
 * store -> QueryResult. Owns query validation beyond the schema, rollup-vs-raw planning,
 * per-query timeouts, row budgets and the concurrency limit.
 */
export { QueryEngine, QUERY_DEFAULTS, type QueryEngineOptions, type RunOptions } from './engine';
export type { DatabaseSource } from './pool';
export { BusyError, QueryCancelledError, QueryInputError, QueryTimeoutError, RowBudgetError } from './errors';
