/**
 * Shared by the HTTP, metrics and fuzz tests: deterministic flow records (with names that
 * need CSV quoting and label escaping), and a real agent service on an ephemeral loopback
 * port over a real DuckDB file filled with those records.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { seededRandom } from '../src/bench/flow-records';
import type { FlowRecord } from '../src/model/flow';
import { startAgentService, type AgentService, type AgentServiceOptions } from '../src/server/service';

export const BASE_US = Date.UTC(2026, 0, 1) * 1000;
export const BASE_MS = BASE_US / 1000;

/** Inventory names, including ones that need CSV quoting and Prometheus label escaping. */
export const PEER_NAMES = ['alpha', 'beta', 'gw-1', 'laptop "x"', 'db,primary', 'multi\nline', 'back\\slash'];

export function makeRecords(count: number, seed = 1): FlowRecord[] {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number) => Math.floor(random() * max);
  const handshake = (measured: boolean) =>
    measured ? { tcp_synack_us: int(300_000), tcp_ack_us: int(50_000) } : { tcp_synack_us: null, tcp_ack_us: null };
  const records: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const protocol = pick(['tcp', 'tcp', 'udp', 'icmp', 'icmpv6'] as const);
    const v6 = protocol === 'icmpv6' || (protocol !== 'icmp' && random() < 0.2);
    const address = () => (v6 ? `fd00::${(int(0xffff) + 1).toString(16)}` : `10.${int(4)}.${int(256)}.${int(254) + 1}`);
    const ported = protocol === 'tcp' || protocol === 'udp';
    const interim = random() < 0.15;
    const startUs = BASE_US + i * 1_000_000 + int(1_000_000);
    records.push({
      flow_id: `flow-${i}`,
      seq: interim ? 0 : random() < 0.2 ? 1 : 0,
      record_kind: interim ? 'interim' : 'final',
      end_reason: interim ? 'active_timeout' : pick(['idle_timeout', 'tcp_close', 'tcp_reset', 'evicted', 'shutdown']),
      node: pick(['node-a', 'node-b']),
      interface: pick(['wg0', 'eth0']),
      flow_start_us: startUs - int(5) * 1_000_000,
      start_us: startUs,
      end_us: startUs + int(30_000_000),
      direction: pick(['inbound', 'outbound', 'forwarded']),
      ip_version: v6 ? 6 : 4,
      protocol,
      protocol_number: { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 }[protocol],
      src_ip: address(),
      src_port: ported ? 1024 + int(60000) : 0,
      dst_ip: address(),
      dst_port: ported ? pick([22, 53, 80, 443, 5432, 51820]) : 0,
      src_name: random() < 0.5 ? pick(PEER_NAMES) : '',
      src_type: pick(['node', 'user', 'unknown']),
      dst_name: random() < 0.6 ? pick(PEER_NAMES) : '',
      dst_type: pick(['node', 'external', 'egress', 'unknown']),
      dst_domain: random() < 0.3 ? pick(['example.com', 'a,b.example', 'quote"d.example']) : '',
      icmp_type: ported ? null : pick([0, 3, 8, 128]),
      icmp_code: ported ? null : int(4),
      packets_tx: 1 + int(1000),
      packets_rx: int(1000),
      bytes_tx: 40 + int(1_500_000),
      bytes_rx: int(1_500_000),
      tcp_flags_src: protocol === 'tcp' ? int(256) : 0,
      tcp_flags_dst: protocol === 'tcp' ? int(256) : 0,
      conn_state: protocol === 'tcp' ? pick(['S0', 'SF', 'REJ', 'RSTO']) : protocol === 'udp' ? 'SF' : null,
      community_id: `1:${Buffer.from(`c${i}`).toString('base64')}`,
      icmp_id: ported ? null : int(65536),
      ...handshake(protocol === 'tcp' && random() < 0.6),
      dns_rtt_us: protocol === 'udp' && random() < 0.5 ? int(200_000) : null,
    });
  }
  return records;
}

export interface TestAgent {
  service: AgentService;
  records: FlowRecord[];
  dir: string;
  /** Authorization header for the service's token. */
  auth: Record<string, string>;
  close(): Promise<void>;
}

export const TEST_TOKEN = 'test-token-0123456789';

/** Starts a real agent on 127.0.0.1:0 whose DuckDB file holds `records` (written through the metered sink). */
export async function startTestAgent(
  records: FlowRecord[],
  overrides: Partial<Omit<AgentServiceOptions, 'store'>> = {},
): Promise<TestAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-h4-'));
  const service = await startAgentService({
    node: 'node-a',
    logger: pino({ level: 'warn' }),
    ...overrides,
    http: { listen: '127.0.0.1:0', token: TEST_TOKEN, ...overrides.http },
    store: { path: path.join(dir, 'flows.duckdb'), retentionDays: 0 },
  });
  for (const record of records) service.sink.write(record);
  await service.sink.flush();
  return {
    service,
    records,
    dir,
    auth: { authorization: `Bearer ${TEST_TOKEN}` },
    close: async () => {
      await service.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** fetch against the agent, JSON body in, parsed JSON (or text) out. */
export async function call(
  agent: TestAgent,
  method: string,
  route: string,
  body?: unknown,
  headers: Record<string, string> = agent.auth,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read whatever JSON came back
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const response = await fetch(`${agent.service.address}${route}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}
