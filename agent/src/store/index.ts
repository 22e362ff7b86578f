/**
 * The flow store: flow records -> a local DuckDB file (raw records + per-minute rollups),
 * with retention, the backlog and spill that hold records while writes fail, database
 * repair, and the damaged-file policy. The query engine (agent/src/query) reads what this writes.
 */
export {
  FlowStore, StoreUnavailableError, classifyStorageError,
  type DropReason, type StoreCounters, type StoreHealth, type StoreStats, type StoreErrorKind, type RetentionResult,
} from './flow-store';
export { StoreOpenError } from './open';
export { STORE_DEFAULTS, type StoreOptions, type StoreOptionsInput } from './options';
export { ROLLUP_DIMENSIONS } from './schema';
