/**
 * The opaque `flows` cursor: base64url of the sort key of the last record returned
 * (start_us, flow_id, seq, rid) and the order it was walked in. rid, the store's insertion
 * sequence, makes the key unique, so paging visits every record exactly once even when
 * records share a start time (or a flow id, e.g. after importing one capture twice).
 */
import { QueryInputError } from './errors';

export interface CursorKey {
  order: 'newest' | 'oldest';
  startUs: number;
  flowId: string;
  seq: number;
  rid: number;
}

const VERSION = 1;

export function encodeCursor(key: CursorKey): string {
  const payload = [VERSION, key.order === 'newest' ? 'n' : 'o', key.startUs, key.flowId, key.seq, key.rid];
  return Buffer.from(JSON.stringify(payload)).toString('base64url');
}

export function decodeCursor(cursor: string, order: 'newest' | 'oldest'): CursorKey {
  const bad = (why: string) => new QueryInputError('cursor', `${why}; pass next_cursor from the previous page unchanged`);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('not a cursor');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor');
  }
  if (!Array.isArray(payload) || payload.length !== 6 || payload[0] !== VERSION) throw bad('not a cursor');
  const [, orderCode, startUs, flowId, seq, rid] = payload as unknown[];
  if (
    (orderCode !== 'n' && orderCode !== 'o') || !Number.isSafeInteger(startUs) || typeof flowId !== 'string' ||
    !Number.isSafeInteger(seq) || !Number.isSafeInteger(rid)
  ) {
    throw bad('not a cursor');
  }
  const cursorOrder = orderCode === 'n' ? 'newest' : 'oldest';
  if (cursorOrder !== order) throw bad(`cursor was made for order=${cursorOrder}`);
  return { order, startUs: startUs as number, flowId, seq: seq as number, rid: rid as number };
}
