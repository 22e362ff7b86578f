/**
 * CSV export of flow records (RFC 4180: comma separated, CRLF line ends, fields quoted when
 * they hold a comma, quote, CR or LF, quotes doubled). Columns: human-readable ISO-8601 start
 * and end (microsecond precision, UTC), the same instants as epoch milliseconds, then every
 * FlowRecord field under its own name. null is written as an empty field.
 *
 * Text that a spreadsheet would run as a formula (starting with =, +, -, @, tab or CR: the
 * OWASP "CSV injection" set) gets a leading apostrophe, so an inventory name or a domain seen
 * on the wire cannot execute when the export is opened in Excel or LibreOffice. Numbers,
 * negative ones included, are written as they are.
 */
import { FlowRecordSchema, type FlowRecord } from '../model/flow';
import type { FlowsQuery, FlowsResult } from '../model/query';

export const RECORD_COLUMNS = Object.keys(FlowRecordSchema.properties) as (keyof FlowRecord)[];
export const CSV_COLUMNS = ['start_time', 'end_time', 'start_ms', 'end_ms', ...RECORD_COLUMNS];

/** Largest page the flows query allows: fewest round trips to the store. */
const EXPORT_PAGE_SIZE = 10_000;

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Epoch microseconds as ISO-8601 UTC with six fractional digits. */
export function isoFromMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = us - ms * 1000;
  return new Date(ms).toISOString().replace('Z', `${String(micros).padStart(3, '0')}Z`);
}

export function csvRow(record: FlowRecord): string {
  const fields = [
    isoFromMicros(record.start_us),
    isoFromMicros(record.end_us),
    Math.floor(record.start_us / 1000),
    Math.floor(record.end_us / 1000),
    ...RECORD_COLUMNS.map((column) => record[column]),
  ];
  return `${fields.map(csvField).join(',')}\r\n`;
}

export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/**
 * Every page of a flows query, first page already fetched (so errors in it become a proper
 * HTTP status before the 200 goes out), as CSV text chunks.
 */
export async function* csvChunks(
  query: FlowsQuery,
  firstPage: FlowsResult,
  fetchPage: (query: FlowsQuery) => Promise<FlowsResult>,
): AsyncGenerator<string> {
  yield CSV_HEADER;
  let page = firstPage;
  while (true) {
    if (page.records.length > 0) yield page.records.map(csvRow).join('');
    if (page.next_cursor === null) return;
    page = await fetchPage({ ...query, cursor: page.next_cursor });
  }
}

/** The export starts from the first page whatever cursor the client sent; pages stay within the row budget. */
export function exportQuery(query: FlowsQuery, rowBudget: number): FlowsQuery {
  const pageQuery: FlowsQuery = { ...query, limit: query.limit ?? Math.min(EXPORT_PAGE_SIZE, rowBudget) };
  delete pageQuery.cursor;
  return pageQuery;
}
