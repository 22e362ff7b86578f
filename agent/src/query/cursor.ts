/**
 * The opaque `flows` cursor: base64url of the sort key of the last record returned
 * (start_us, flow_id, seq, rid) and the order it was walked in. rid, the store's insertion
 * sequence, makes the key unique, so paging visits every record exactly once even when
 * records share a start time (or a flow id, e.g. after importing one capture twice).
 *
 * A cursor is bound to where it came from: the database (its id in the store's meta table;
 * rid means nothing in another database, or in a fresh one that replaced a damaged file) and
 * the query (a fingerprint of its order, filters and include_open). The time range is left
 * out on purpose: a dashboard's relative range moves between two page requests and the
 * keyset stays exact. The database is checked on the query's own connection, when it runs
 * (the store may replace its database at any time); the rest before it takes a connection.
 */
import { createHash } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Filter } from '../model/query';
import { QueryInputError } from './errors';

export interface CursorKey {
  order: 'newest' | 'oldest';
  startUs: number;
  flowId: string;
  seq: number;
  rid: number;
}

/** What a cursor must have been made by: this database and a query with these order and filters. */
export interface CursorBinding {
  databaseId: string;
  query: string;
}

const VERSION = 2;

/** JSON with object keys sorted, so equal filters give equal text whatever order a client wrote them in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The fingerprint of what a flows cursor pages: its order, filters and include_open. */
export function queryFingerprint(order: string, filters: readonly Filter[] | undefined, includeOpen: boolean): string {
  return createHash('sha256').update(canonicalJson([order, filters ?? [], includeOpen])).digest('base64url').slice(0, 16);
}

/** The id the store keeps in its meta table for the database this connection reads. */
export async function readDatabaseId(connection: DuckDBConnection): Promise<string> {
  const rows = (await connection.runAndReadAll("SELECT min(value) FROM flowmesh_meta WHERE key = 'database_id'")).getRows();
  const id = rows[0]?.[0];
  if (typeof id !== 'string') throw new Error('the database has no database_id in flowmesh_meta (it was not opened by the store)');
  return id;
}

const restart = (why: string) => new QueryInputError('cursor', `${why}; start again from the first page (no cursor)`);

/** A cursor from another database than the one the query reads is refused. */
export function checkCursorDatabase(cursorDatabaseId: string, databaseId: string): void {
  if (cursorDatabaseId !== databaseId) {
    throw restart('the cursor was made by another database (another agent, or this agent\'s database was replaced)');
  }
}

export function encodeCursor(key: CursorKey, binding: CursorBinding): string {
  const payload = [VERSION, key.order === 'newest' ? 'n' : 'o', key.startUs, key.flowId, key.seq, key.rid, binding.databaseId, binding.query];
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

/** The cursor's key and the database it was made by (checked with checkCursorDatabase when the query runs). */
export function decodeCursor(cursor: string, order: 'newest' | 'oldest', fingerprint: string): { key: CursorKey; databaseId: string } {
  const bad = (why: string) => new QueryInputError('cursor', `${why}; pass next_cursor from the previous page unchanged`);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('not a cursor');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor');
  }
  if (Array.isArray(payload) && typeof payload[0] === 'number' && payload[0] < VERSION) {
    throw restart('the cursor was made by an older agent version');
  }
  if (!Array.isArray(payload) || payload.length !== 8 || payload[0] !== VERSION) throw bad('not a cursor');
  const [, orderCode, startUs, flowId, seq, rid, databaseId, query] = payload as unknown[];
  if (
    (orderCode !== 'n' && orderCode !== 'o') || !Number.isSafeInteger(startUs) || typeof flowId !== 'string' ||
    !Number.isSafeInteger(seq) || !Number.isSafeInteger(rid) || typeof databaseId !== 'string' || typeof query !== 'string'
  ) {
    throw bad('not a cursor');
  }
  const cursorOrder = orderCode === 'n' ? 'newest' : 'oldest';
  if (cursorOrder !== order) throw bad(`cursor was made for order=${cursorOrder}`);
  if (query !== fingerprint) throw restart('the cursor was made for a query with other filters (or include_open)');
  return { key: { order, startUs: startUs as number, flowId, seq: seq as number, rid: rid as number }, databaseId };
}
