/**
 * Test helper: a database big enough for a slow query, fast. Rows go straight in with one SQL
 * INSERT through the store's own DuckDB instance (seconds for hundreds of thousands, where
 * the store's writer would take minutes): record i is flow `flow-i`, TCP 10.0.0.1 ->
 * 10.1.x.y:443, 100 bytes each way, starting at startUs + i * stepUs.
 */
import type { FlowStore } from '../../src/store';

export interface BulkFlows {
  rows: number;
  startUs: number;
  stepUs: number;
  /**
   * Moves the rollup watermark past the rows, so the store's rollup leaves them alone (then
   * only raw-row queries are exact: ranges under an hour, or a dimension the rollup lacks).
   */
  rolledUp: boolean;
}

export async function insertBulkFlows(store: FlowStore, { rows, startUs, stepUs, rolledUp }: BulkFlows): Promise<void> {
  const connection = await store.instance.connect();
  await connection.run(
    `INSERT INTO flows (rid, flow_id, seq, record_kind, end_reason, node, interface, flow_start_us, start_us, end_us, minute_us,
       direction, ip_version, protocol, protocol_number, src_ip, src_ip_hi, src_ip_lo, src_port, dst_ip, dst_ip_hi, dst_ip_lo, dst_port,
       src_name, src_type, dst_name, dst_type, dst_domain, packets_tx, packets_rx, bytes_tx, bytes_rx, tcp_flags_src, tcp_flags_dst, community_id)
     SELECT i, 'flow-' || i, 0, 'final', 'tcp_close', 'n', 'wg0', t, t, t + 5, t - t % 60000000, 'outbound', 4, 'tcp', 6,
       '10.0.0.1', 0, 281470681743361, (i % 60000)::USMALLINT, '10.1.' || (i % 200) || '.' || (i % 250), 0, 0, 443, '', 'node', '', 'external', '',
       1, 1, 100, 100, 2, 18, '1:' || md5(i::VARCHAR)
     FROM (SELECT range AS i, ${startUs}::BIGINT + range * ${stepUs} AS t FROM range(${rows}))`,
  );
  if (rolledUp) await connection.run(`UPDATE rollup_state SET rid = ${rows}`);
  connection.closeSync();
}
