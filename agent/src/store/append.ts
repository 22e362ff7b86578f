/**
 * The write path's inner loop: flow records -> DuckDB data chunks -> the appender.
 *
 * Speed matters here (the store must keep up with the flow table), so columns are filled
 * into preallocated typed arrays and copied into each native vector with one memcpy:
 * 64-bit integers are written as two 32-bit halves (no BigInt per value), enums as their
 * index, addresses as four 32-bit words. VARCHARs of at most 12 bytes of ASCII are written
 * inline in DuckDB's documented `duckdb_string_t` layout (4-byte length + 12 bytes, zero
 * padded); longer or non-ASCII strings take one native call each
 * (`duckdb_vector_assign_string_element`), after the bulk copy.
 */
import bindings from '@duckdb/node-bindings';
import { DuckDBDataChunk, DuckDBEnumType, DuckDBTypeId, type DuckDBAppender, type DuckDBType } from '@duckdb/node-api';
import type { FlowRecord } from '../model/flow';
import { FLOW_COLUMNS } from './schema';
import { ipToWords } from './ip';

/** DuckDB's standard vector size: the most rows one data chunk holds. */
const CHUNK_ROWS = 2048;
const MINUTE_US = 60_000_000;
const TWO_POW_32 = 4294967296;
const STRING_T_BYTES = 16;
const INLINE_STRING_MAX = 12;

type Field = (record: FlowRecord) => unknown;

/** How each column is encoded; fields are read by name except for the derived ones. */
type Encoding =
  | { kind: 'u64'; get: (record: FlowRecord, rowIndex: number) => number }
  | { kind: 'u32' | 'u16' | 'u8'; get: Field; nullable: boolean }
  | { kind: 'enum'; get: Field; nullable: boolean }
  | { kind: 'ip'; get: Field }
  | { kind: 'varchar'; get: Field };

function encodingOf(name: string, type: string, firstRidRef: { value: number }): Encoding {
  const field: Field = (r) => (r as unknown as Record<string, unknown>)[name];
  switch (name) {
    case 'rid':
      return { kind: 'u64', get: (_r, row) => firstRidRef.value + row };
    case 'minute_us':
      return { kind: 'u64', get: (r) => r.start_us - (r.start_us % MINUTE_US) };
    case 'src_ip_num':
      return { kind: 'ip', get: (r) => r.src_ip };
    case 'dst_ip_num':
      return { kind: 'ip', get: (r) => r.dst_ip };
  }
  const nullable = name === 'icmp_type' || name === 'icmp_code' || name === 'conn_state';
  switch (type) {
    case 'BIGINT':
    case 'UBIGINT':
      return { kind: 'u64', get: field as (r: FlowRecord) => number };
    case 'UINTEGER':
      return { kind: 'u32', get: field, nullable };
    case 'USMALLINT':
      return { kind: 'u16', get: field, nullable };
    case 'UTINYINT':
      return { kind: 'u8', get: field, nullable };
    case 'VARCHAR':
      return { kind: 'varchar', get: field };
    default:
      if (type.startsWith('fm_')) return { kind: 'enum', get: field, nullable };
      throw new Error(`no encoding for column ${name} ${type}`);
  }
}

/** Reusable per-column buffers sized for one chunk. */
interface ColumnBuffer {
  encoding: Encoding;
  bytesPerRow: number;
  data: ArrayBuffer;
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  validity: Uint8Array | null;
  enumIndex: Map<string, number> | null;
  wideEnum: boolean;
}

function bytesPerRow(kind: Encoding['kind'], wideEnum: boolean): number {
  switch (kind) {
    case 'u64': return 8;
    case 'u32': return 4;
    case 'u16': return 2;
    case 'u8': return 1;
    case 'enum': return wideEnum ? 2 : 1;
    case 'ip': return 16;
    case 'varchar': return STRING_T_BYTES;
  }
}

/** Appends records to a `flows` appender; keeps buffers between batches (one per writer connection). */
export class FlowChunkWriter {
  private readonly firstRid = { value: 0 };
  private readonly columns: ColumnBuffer[];
  private readonly longStrings: { row: number; text: string }[] = [];

  constructor(private readonly types: readonly DuckDBType[]) {
    if (types.length !== FLOW_COLUMNS.length) throw new Error('flows table does not match the store schema');
    this.columns = FLOW_COLUMNS.map(([name, type], index) => {
      const encoding = encodingOf(name, type, this.firstRid);
      const columnType = types[index];
      const enumType = columnType instanceof DuckDBEnumType ? columnType : null;
      const wideEnum = enumType !== null && enumType.internalTypeId !== DuckDBTypeId.UTINYINT;
      const size = bytesPerRow(encoding.kind, wideEnum);
      const data = new ArrayBuffer(size * CHUNK_ROWS);
      const nullable = 'nullable' in encoding && encoding.nullable;
      return {
        encoding, bytesPerRow: size, data,
        u8: new Uint8Array(data), u16: new Uint16Array(data), u32: new Uint32Array(data),
        validity: nullable ? new Uint8Array(CHUNK_ROWS / 8) : null,
        enumIndex: enumType ? new Map(enumType.values.map((v, i) => [v, i])) : null,
        wideEnum,
      };
    });
  }

  static async forAppender(appender: DuckDBAppender): Promise<FlowChunkWriter> {
    const types: DuckDBType[] = [];
    for (let i = 0; i < appender.columnCount; i++) types.push(appender.columnType(i));
    return new FlowChunkWriter(types);
  }

  /** Appends the records with rids firstRid, firstRid + 1, ... */
  append(appender: DuckDBAppender, records: readonly FlowRecord[], firstRid: number): void {
    for (let offset = 0; offset < records.length; offset += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, records.length - offset);
      this.firstRid.value = firstRid + offset;
      const chunk = DuckDBDataChunk.create(this.types, rows);
      for (let c = 0; c < this.columns.length; c++) {
        const vector = bindings.data_chunk_get_vector(chunk.chunk, c);
        this.fillColumn(this.columns[c], vector, records, offset, rows);
      }
      appender.appendDataChunk(chunk);
    }
  }

  private fillColumn(column: ColumnBuffer, vector: bindings.Vector, records: readonly FlowRecord[], offset: number, rows: number): void {
    const { encoding, validity } = column;
    if (validity) validity.fill(0xff);
    this.longStrings.length = 0;
    for (let row = 0; row < rows; row++) {
      const record = records[offset + row];
      switch (encoding.kind) {
        case 'u64': {
          const value = encoding.get(record, row);
          const high = Math.floor(value / TWO_POW_32);
          column.u32[row * 2] = value - high * TWO_POW_32;
          column.u32[row * 2 + 1] = high;
          break;
        }
        case 'u32':
        case 'u16':
        case 'u8': {
          const value = encoding.get(record) as number | null;
          const target = encoding.kind === 'u32' ? column.u32 : encoding.kind === 'u16' ? column.u16 : column.u8;
          if (value === null) {
            target[row] = 0;
            clearValid(validity, row);
          } else {
            target[row] = value;
          }
          break;
        }
        case 'enum': {
          const value = encoding.get(record) as string | null;
          const index = value === null ? undefined : column.enumIndex?.get(value);
          if (index === undefined) clearValid(validity, row);
          if (column.wideEnum) column.u16[row] = index ?? 0;
          else column.u8[row] = index ?? 0;
          break;
        }
        case 'ip': {
          const words = ipToWords(encoding.get(record) as string);
          if (words) column.u32.set(words, row * 4);
          else column.u32.fill(0, row * 4, row * 4 + 4); // unreachable: validate.ts rejects bad addresses
          break;
        }
        case 'varchar':
          this.writeString(column, row, encoding.get(record) as string);
          break;
      }
    }
    bindings.copy_data_to_vector(vector, 0, column.data, 0, rows * column.bytesPerRow);
    if (validity) {
      bindings.vector_ensure_validity_writable(vector);
      bindings.copy_data_to_vector_validity(vector, 0, validity.buffer as ArrayBuffer, 0, Math.ceil(rows / 64) * 8);
    }
    for (const { row, text } of this.longStrings) bindings.vector_assign_string_element(vector, row, text);
  }

  private writeString(column: ColumnBuffer, row: number, text: string): void {
    const base = row * STRING_T_BYTES;
    const bytes = column.u8;
    bytes.fill(0, base, base + STRING_T_BYTES);
    if (text.length <= INLINE_STRING_MAX) {
      let ascii = true;
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        if (code > 0x7f) {
          ascii = false;
          break;
        }
        bytes[base + 4 + i] = code;
      }
      if (ascii) {
        column.u32[row * 4] = text.length;
        return;
      }
    }
    this.longStrings.push({ row, text });
  }
}

function clearValid(validity: Uint8Array | null, row: number): void {
  if (validity) validity[row >> 3] &= ~(1 << (row & 7));
}
