/**
 * The flow store: flow records -> a local DuckDB file (raw records + per-minute rollups),
 * with retention, storage-failure backlog and corrupt-file recovery. The query engine
 * (agent/src/query) reads what this writes.
 */
export { FlowStore, classifyStorageError, type StoreCounters, type StoreStats, type StoreErrorKind, type RetentionResult } from './flow-store';
export { STORE_DEFAULTS, type StoreOptions, type StoreOptionsInput } from './options';
export { ROLLUP_DIMENSIONS } from './schema';
