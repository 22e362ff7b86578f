/**
 * The write path's inner loop: flow records -> DuckDB data chunks -> the appender.
 *
 * Speed matters here (the store must keep up with the flow table), so columns are filled
 * into preallocated typed arrays and copied into each native vector with one memcpy:
 * 64-bit integers are written as two 32-bit halves (no BigInt per value), enums as their
 * index, addresses as 32-bit words. VARCHARs of at most 12 bytes of ASCII are written
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

/** Per-column buffers for one chunk, reused for every chunk. */
class Column {
  readonly data: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  /** Validity bits (1 = valid) for nullable columns. */
  readonly validity: Uint8Array | null;
  readonly enumIndex: Map<string, number> | null;
  readonly wideEnum: boolean;
  readonly longRows: number[] = [];
  readonly longTexts: string[] = [];

  constructor(readonly bytesPerRow: number, nullable: boolean, type: DuckDBType) {
    this.data = new ArrayBuffer(bytesPerRow * CHUNK_ROWS);
    this.u8 = new Uint8Array(this.data);
    this.u16 = new Uint16Array(this.data);
    this.u32 = new Uint32Array(this.data);
    this.validity = nullable ? new Uint8Array(CHUNK_ROWS / 8) : null;
    this.enumIndex = type instanceof DuckDBEnumType ? new Map(type.values.map((v, i) => [v, i])) : null;
    this.wideEnum = type instanceof DuckDBEnumType && type.internalTypeId !== DuckDBTypeId.UTINYINT;
  }

  reset(): void {
    this.validity?.fill(0xff);
    this.longRows.length = 0;
    this.longTexts.length = 0;
  }

  /** A non-negative safe integer as a 64-bit little-endian value (two 32-bit halves: no BigInt). */
  u64(row: number, value: number): void {
    const high = Math.floor(value / TWO_POW_32);
    this.u32[row * 2] = value - high * TWO_POW_32;
    this.u32[row * 2 + 1] = high;
  }

  nullableU8(row: number, value: number | null): void {
    if (value === null) {
      this.u8[row] = 0;
      this.validity![row >> 3] &= ~(1 << (row & 7));
    } else {
      this.u8[row] = value;
    }
  }

  nullableU16(row: number, value: number | null): void {
    if (value === null) {
      this.u16[row] = 0;
      this.validity![row >> 3] &= ~(1 << (row & 7));
    } else {
      this.u16[row] = value;
    }
  }

  /** A non-negative safe integer or NULL as a 64-bit value. */
  nullableU64(row: number, value: number | null): void {
    if (value === null) {
      this.u32[row * 2] = this.u32[row * 2 + 1] = 0;
      this.validity![row >> 3] &= ~(1 << (row & 7));
    } else {
      this.u64(row, value);
    }
  }

  /** A vocabulary value: its ENUM index, or text when the column is VARCHAR (the query engine's in-memory copy). */
  label(row: number, value: string): void {
    if (this.enumIndex) this.enumValue(row, value);
    else this.text(row, value);
  }

  enumValue(row: number, value: string | null): void {
    const index = value === null ? undefined : this.enumIndex!.get(value);
    if (index === undefined) this.validity![row >> 3] &= ~(1 << (row & 7)); // only NULL gets here: validate.ts checked members
    if (this.wideEnum) this.u16[row] = index ?? 0;
    else this.u8[row] = index ?? 0;
  }

  /** duckdb_string_t: length, then up to 12 bytes inline (zero padded); longer strings go through the C API. */
  text(row: number, value: string): void {
    const words = this.u32;
    const word = row * 4;
    words[word] = 0;
    words[word + 1] = 0;
    words[word + 2] = 0;
    words[word + 3] = 0;
    if (value.length <= INLINE_STRING_MAX) {
      const bytes = this.u8;
      const base = row * STRING_T_BYTES + 4;
      let i = 0;
      for (; i < value.length; i++) {
        const code = value.charCodeAt(i);
        if (code > 0x7f) break;
        bytes[base + i] = code;
      }
      if (i === value.length) {
        words[word] = value.length;
        return;
      }
      words[word + 1] = 0;
      words[word + 2] = 0;
      words[word + 3] = 0;
    }
    this.longRows.push(row);
    this.longTexts.push(value);
  }

  copyTo(vector: bindings.Vector, rows: number): void {
    bindings.copy_data_to_vector(vector, 0, this.data, 0, rows * this.bytesPerRow);
    if (this.validity) {
      bindings.vector_ensure_validity_writable(vector);
      bindings.copy_data_to_vector_validity(vector, 0, this.validity.buffer as ArrayBuffer, 0, Math.ceil(rows / 64) * 8);
    }
    for (let i = 0; i < this.longRows.length; i++) bindings.vector_assign_string_element(vector, this.longRows[i], this.longTexts[i]);
  }
}

const BYTES_PER_ROW: Record<string, number> = {
  UBIGINT: 8, BIGINT: 8, UINTEGER: 4, USMALLINT: 2, UTINYINT: 1, VARCHAR: STRING_T_BYTES,
};
const NULLABLE = new Set(['icmp_type', 'icmp_code', 'conn_state', 'icmp_id', 'tcp_synack_us', 'tcp_ack_us', 'dns_rtt_us']);

/** The address's upper and lower 64 bits into its _hi and _lo columns. */
function address(row: number, hiColumn: Column, loColumn: Column, text: string): void {
  const words = ipToWords(text); // never null: validate.ts rejected bad addresses
  if (!words) return;
  const hi = hiColumn.u32;
  const lo = loColumn.u32;
  lo[row * 2] = words[0];
  lo[row * 2 + 1] = words[1];
  hi[row * 2] = words[2];
  hi[row * 2 + 1] = words[3];
}

/** Every column of the flows table by name (FLOW_COLUMNS order = table order). */
function columnsByName(columns: readonly Column[]) {
  const at = (name: string): Column => {
    const index = FLOW_COLUMNS.findIndex(([n]) => n === name);
    if (index < 0) throw new Error(`no column ${name} in the store schema`);
    return columns[index];
  };
  return {
    rid: at('rid'),
    flow_id: at('flow_id'),
    seq: at('seq'),
    record_kind: at('record_kind'),
    end_reason: at('end_reason'),
    node: at('node'),
    interface: at('interface'),
    flow_start_us: at('flow_start_us'),
    start_us: at('start_us'),
    end_us: at('end_us'),
    minute_us: at('minute_us'),
    direction: at('direction'),
    ip_version: at('ip_version'),
    protocol: at('protocol'),
    protocol_number: at('protocol_number'),
    src_ip: at('src_ip'),
    src_ip_hi: at('src_ip_hi'),
    src_ip_lo: at('src_ip_lo'),
    src_port: at('src_port'),
    dst_ip: at('dst_ip'),
    dst_ip_hi: at('dst_ip_hi'),
    dst_ip_lo: at('dst_ip_lo'),
    dst_port: at('dst_port'),
    src_name: at('src_name'),
    src_type: at('src_type'),
    dst_name: at('dst_name'),
    dst_type: at('dst_type'),
    dst_domain: at('dst_domain'),
    icmp_type: at('icmp_type'),
    icmp_code: at('icmp_code'),
    packets_tx: at('packets_tx'),
    packets_rx: at('packets_rx'),
    bytes_tx: at('bytes_tx'),
    bytes_rx: at('bytes_rx'),
    tcp_flags_src: at('tcp_flags_src'),
    tcp_flags_dst: at('tcp_flags_dst'),
    conn_state: at('conn_state'),
    community_id: at('community_id'),
    icmp_id: at('icmp_id'),
    tcp_synack_us: at('tcp_synack_us'),
    tcp_ack_us: at('tcp_ack_us'),
    dns_rtt_us: at('dns_rtt_us'),
  };
}
type ColumnsByName = ReturnType<typeof columnsByName>;

/** Appends records to a `flows` appender; keeps its buffers between batches (one per writer connection). */
export class FlowChunkWriter {
  private readonly columns: Column[];
  /** The columns by name, resolved once (a plain object literal: fast property reads in the hot loop). */
  private readonly col: ColumnsByName;
  /** Native logical types, made once (an ENUM's is costly to rebuild for every chunk). */
  private readonly logicalTypes: bindings.LogicalType[];

  constructor(types: readonly DuckDBType[]) {
    if (types.length !== FLOW_COLUMNS.length) throw new Error('flows table does not match the store schema');
    this.logicalTypes = types.map((t) => t.toLogicalType().logical_type);
    this.columns = FLOW_COLUMNS.map(([name, type], i) => {
      const enumType = types[i] instanceof DuckDBEnumType;
      // a vocabulary column may be VARCHAR in a copy of the table (the query engine's in-memory one)
      const declared = types[i].typeId === DuckDBTypeId.VARCHAR ? 'VARCHAR' : type;
      const size = enumType ? ((types[i] as DuckDBEnumType).internalTypeId === DuckDBTypeId.UTINYINT ? 1 : 2) : BYTES_PER_ROW[declared];
      if (!size) throw new Error(`no encoding for column ${name} ${type}`);
      return new Column(size, NULLABLE.has(name), types[i]);
    });
    this.col = columnsByName(this.columns);
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
      for (const column of this.columns) column.reset();
      for (let row = 0; row < rows; row++) this.fillRow(row, records[offset + row], firstRid + offset + row);
      const chunk = bindings.create_data_chunk(this.logicalTypes);
      bindings.data_chunk_set_size(chunk, rows);
      for (let c = 0; c < this.columns.length; c++) this.columns[c].copyTo(bindings.data_chunk_get_vector(chunk, c), rows);
      appender.appendDataChunk(new DuckDBDataChunk(chunk));
    }
  }

  /** One record into every column (plain property reads: this is the hot loop). */
  private fillRow(row: number, r: FlowRecord, rid: number): void {
    const c = this.col;
    c.rid.u64(row, rid);
    c.flow_id.text(row, r.flow_id);
    c.seq.u32[row] = r.seq;
    c.record_kind.label(row, r.record_kind as string);
    c.end_reason.label(row, r.end_reason as string);
    c.node.text(row, r.node);
    c.interface.text(row, r.interface);
    c.flow_start_us.u64(row, r.flow_start_us);
    c.start_us.u64(row, r.start_us);
    c.end_us.u64(row, r.end_us);
    c.minute_us.u64(row, r.start_us - (r.start_us % MINUTE_US));
    c.direction.enumValue(row, r.direction as string);
    c.ip_version.u8[row] = r.ip_version as number;
    c.protocol.enumValue(row, r.protocol);
    c.protocol_number.u8[row] = r.protocol_number;
    c.src_ip.text(row, r.src_ip);
    address(row, c.src_ip_hi, c.src_ip_lo, r.src_ip);
    c.src_port.u16[row] = r.src_port;
    c.dst_ip.text(row, r.dst_ip);
    address(row, c.dst_ip_hi, c.dst_ip_lo, r.dst_ip);
    c.dst_port.u16[row] = r.dst_port;
    c.src_name.text(row, r.src_name);
    c.src_type.enumValue(row, r.src_type as string);
    c.dst_name.text(row, r.dst_name);
    c.dst_type.enumValue(row, r.dst_type as string);
    c.dst_domain.text(row, r.dst_domain);
    c.icmp_type.nullableU8(row, r.icmp_type);
    c.icmp_code.nullableU8(row, r.icmp_code);
    c.packets_tx.u64(row, r.packets_tx);
    c.packets_rx.u64(row, r.packets_rx);
    c.bytes_tx.u64(row, r.bytes_tx);
    c.bytes_rx.u64(row, r.bytes_rx);
    c.tcp_flags_src.u8[row] = r.tcp_flags_src;
    c.tcp_flags_dst.u8[row] = r.tcp_flags_dst;
    c.conn_state.enumValue(row, r.conn_state as string | null);
    c.community_id.text(row, r.community_id);
    c.icmp_id.nullableU16(row, r.icmp_id);
    c.tcp_synack_us.nullableU64(row, r.tcp_synack_us);
    c.tcp_ack_us.nullableU64(row, r.tcp_ack_us);
    c.dns_rtt_us.nullableU64(row, r.dns_rtt_us);
  }
}
