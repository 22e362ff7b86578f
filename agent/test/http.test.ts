/**
 * The HTTP API of a running agent (real Fastify on an ephemeral loopback port, real DuckDB
 * file filled with known records): auth, routing, validation messages, documents.
 */
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { FlowRecordSchema, type FlowRecord } from '../src/model/flow';
import { startAgentService } from '../src/server/service';
import { csvField } from '../src/http/csv';
import { formatOpenapi, OPENAPI_FILE } from '../src/http/openapi';
import { BASE_MS, call, makeRecords, startTestAgent, TEST_TOKEN, type TestAgent } from './http-fixture';

const records = makeRecords(300, 3);
const RANGE = { from: BASE_MS - 3_600_000, to: BASE_MS + 3_600_000 };
const flows = (extra: object = {}) => ({ kind: 'flows', ...RANGE, ...extra });
const byFlowId = (a: FlowRecord, b: FlowRecord) => a.flow_id.localeCompare(b.flow_id);
const total = (pick: (r: FlowRecord) => number, subset: FlowRecord[] = records) => subset.reduce((t, r) => t + pick(r), 0);
const bytes = (r: FlowRecord) => r.bytes_tx + r.bytes_rx;

let agent: TestAgent;
beforeAll(async () => {
  agent = await startTestAgent(records);
});
afterAll(() => agent?.close());

describe('auth', () => {
  test('/health needs no token and reports version', async () => {
    const health = await call(agent, 'GET', '/health', undefined, {});
    expect(health.status).toBe(200);
    expect(health.json).toEqual({ status: 'ok', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  test.each([
    ['missing', {}, 'missing Authorization'],
    ['wrong', { authorization: `Bearer ${TEST_TOKEN}x` }, 'invalid token'],
    ['shorter', { authorization: 'Bearer t' }, 'invalid token'],
    ['not bearer', { authorization: `Basic ${TEST_TOKEN}` }, 'missing Authorization'],
  ])('%s token is refused with 401 on every protected route', async (_label, headers, message) => {
    for (const [method, route, body] of [
      ['GET', '/info', undefined], ['POST', '/api/v1/query', flows()], ['POST', '/api/v1/export.csv', flows()],
      ['GET', '/api/v1/openapi.json', undefined], ['GET', '/no/such/route', undefined],
    ] as const) {
      const reply = await call(agent, method, route, body, headers);
      expect({ route, status: reply.status }).toEqual({ route, status: 401 });
      expect(reply.json).toEqual({ error: 'unauthorized', message: expect.stringContaining(message) });
      expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="flowmesh"');
    }
  });

  test('the right token is accepted (case-insensitive scheme)', async () => {
    expect((await call(agent, 'GET', '/info')).status).toBe(200);
    expect((await call(agent, 'GET', '/info', undefined, { authorization: `bearer ${TEST_TOKEN}` })).status).toBe(200);
  });

  test('refuses to listen on a non-loopback address without a token', async () => {
    for (const listen of ['0.0.0.0:0', '[::]:0', '192.0.2.1:9477']) {
      await expect(
        startAgentService({ node: 'x', http: { listen }, store: { path: '/nonexistent/never-opened.duckdb' } }),
      ).rejects.toThrow(/refusing to listen on .* without an API token/);
    }
  });

  test('without a token, loopback serves unauthenticated', async () => {
    const open = await startTestAgent([], { http: { token: '' } });
    try {
      expect((await call(open, 'GET', '/info', undefined, {})).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('routing and errors', () => {
  test('unknown route: 404 JSON, no stack', async () => {
    const reply = await call(agent, 'GET', '/api/v1/nope?x=1');
    expect(reply.status).toBe(404);
    expect(reply.json).toEqual({ error: 'not_found', message: 'no route GET /api/v1/nope' });
  });

  test('wrong method on a known path is 404 JSON', async () => {
    const reply = await call(agent, 'GET', '/api/v1/query');
    expect(reply.status).toBe(404);
    expect(reply.json.error).toBe('not_found');
  });

  test('malformed JSON is a 400 without internals', async () => {
    const reply = await call(agent, 'POST', '/api/v1/query', '{"kind": "flows",');
    expect(reply.status).toBe(400);
    expect(reply.json.error).toBe('bad_request');
    expect(reply.text).not.toMatch(/at .*\.js|node_modules/);
  });

  test('a body over the limit is 413', async () => {
    const small = await startTestAgent([], { http: { body_limit_bytes: 1000 } });
    try {
      const reply = await call(small, 'POST', '/api/v1/query', flows({ filters: [{ field: 'node', op: 'in', values: Array(500).fill('node-a') }] }));
      expect(reply.status).toBe(413);
      expect(reply.json.error).toBe('payload_too_large');
    } finally {
      await small.close();
    }
  });

  test.each([
    [{ kind: 'flows', from: 0 }, 'to', /to is required/],
    [{ kind: 'tops', from: 0, to: 1 }, 'kind', /kind must be one of flows, top, timeseries, summary, values/],
    [{ from: 0, to: 1 }, 'kind', /kind is required/],
    [flows({ order: 'sideways' }), 'order', /order must be one of newest, oldest/],
    [flows({ limit: 0 }), 'limit', /limit must be >= 1/],
    [flows({ colour: 'red' }), 'colour', /colour is not a known property/],
    [flows({ filters: [{ field: 'src_ip', op: 'like', value: 'x' }] }), 'filters/0/op', /filters\/0\/op must be one of eq, neq/],
    [flows({ filters: [{ field: 'node', op: 'eq', value: 'a' }, { field: 'bytes', op: 'cidr', value: '10.0.0.0/8' }] }),
      'filters/1/field', /"bytes" cannot be used with op 'cidr'; allowed: src_ip, dst_ip, ip/],
    [flows({ filters: [{ field: 'port', op: 'range', min: 1, max: 70000 }] }), 'filters/0/max', /must be <= 65535/],
    [flows({ filters: [{ field: 'tcp_flags', op: 'has_any', flags: ['SYN', 'NOPE'] }] }), 'filters/0/flags/1', /must be one of FIN, SYN/],
    [{ kind: 'top', from: 0, to: 1, group_by: ['src_ip', 'colour'] }, 'group_by/1', /group_by\/1 must be one of node/],
    [{ kind: 'timeseries', from: 0, to: 1, interval_ms: 5 }, 'interval_ms', /interval_ms must be >= 1000/],
    [{ kind: 'values', from: 0, to: 1 }, 'dimension', /dimension is required/],
    [flows({ to: 1e300 }), 'to', /^to: an integer epoch in milliseconds/],
    [flows({ to: BASE_MS - 3_600_000 }), 'to', /^to: must be greater than from/],
    [flows({ filters: [{ field: 'ip', op: 'cidr', value: '10.0.0.0/99' }] }), 'filters/0/value', /^filters\/0\/value: not an IP prefix/],
    [flows({ cursor: 'bogus' }), 'cursor', /^cursor: /],
  ])('validation names the field: %j', async (body, field, message) => {
    const reply = await call(agent, 'POST', '/api/v1/query', body);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: 'bad_request', field, message: expect.stringMatching(message) });
  });

  test('a non-object body is a 400', async () => {
    for (const body of ['[]', '"flows"', '42', 'null']) {
      const reply = await call(agent, 'POST', '/api/v1/query', body);
      expect(reply.status).toBe(400);
      expect(reply.json.message).toMatch(/JSON object|body/i);
    }
  });

  test('CSV fields: quoted per RFC 4180, spreadsheet formulas neutralised, numbers untouched', () => {
    expect(csvField('db,primary')).toBe('"db,primary"');
    expect(csvField('laptop "x"')).toBe('"laptop ""x"""');
    expect(csvField('=HYPERLINK("http://evil.example","click")')).toBe(`"'=HYPERLINK(""http://evil.example"",""click"")"`);
    for (const text of ['+1+2', '-2+3', '@SUM(A1:A9)', '\tcmd', '\rcmd']) expect(csvField(text).replace(/^"/, '').startsWith(`'${text[0]}`)).toBe(true);
    expect(csvField(-5)).toBe('-5');
    expect(csvField('gw-1')).toBe('gw-1');
    expect(csvField(null)).toBe('');
  });

  test('export.csv only takes flows queries', async () => {
    const reply = await call(agent, 'POST', '/api/v1/export.csv', { kind: 'summary', from: 0, to: 1 });
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: 'bad_request', field: 'kind', message: "export.csv takes a flows query (got kind 'summary')" });
  });
});

describe('documents', () => {
  test('served OpenAPI document equals the checked-in agent/openapi.json (npm run -w agent openapi regenerates it)', async () => {
    const served = await call(agent, 'GET', '/api/v1/openapi.json');
    expect(served.status).toBe(200);
    expect(formatOpenapi(served.json)).toBe(fs.readFileSync(OPENAPI_FILE, 'utf8'));
    expect(Object.keys(served.json.components.schemas)).toEqual(
      expect.arrayContaining(['FlowRecord', 'Query', 'QueryResult', 'ApiError', 'Totals', 'Filter']),
    );
    expect(Object.keys(served.json.paths).sort()).toEqual(
      ['/api/v1/export.csv', '/api/v1/query', '/health', '/info', '/metrics'],
    );
  });

  test('/info describes the node and its store', async () => {
    const info = await call(agent, 'GET', '/info');
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({
      node: 'node-a',
      api_version: 1,
      interfaces: [],
      capture: [],
      retention: { days: 0 },
      store: { records: records.length, rows_written: records.length, backlog_records: 0, backlog_dropped: 0 },
    });
    expect(info.json.store.oldest_us).toBe(Math.min(...records.map((r) => r.start_us)));
    expect(info.json.store.newest_us).toBe(Math.max(...records.map((r) => r.end_us)));
    expect(info.json.uptime_s).toBeGreaterThan(0);
  });
});

describe('queries over HTTP', () => {
  test('pagination walks every record exactly once, newest first, and records survive JSON unchanged', async () => {
    const seen: FlowRecord[] = [];
    let cursor: string | null | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const reply = await call(agent, 'POST', '/api/v1/query', flows({ limit: 37, ...(cursor ? { cursor } : {}) }));
      expect(reply.status).toBe(200);
      expect(reply.json.records.length).toBeLessThanOrEqual(37);
      seen.push(...reply.json.records);
      cursor = reply.json.next_cursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    const starts = seen.map((r) => r.start_us);
    expect(starts).toEqual([...starts].sort((a, b) => b - a));
    expect([...seen].sort(byFlowId)).toEqual([...records].sort(byFlowId));
  });

  test('summary totals equal the records', async () => {
    const reply = await call(agent, 'POST', '/api/v1/query', { kind: 'summary', ...RANGE });
    expect(reply.status).toBe(200);
    expect(reply.json.records).toBe(records.length);
    const handshakes = records.filter((r) => r.tcp_synack_us !== null);
    const dns = records.filter((r) => r.dns_rtt_us !== null);
    expect(reply.json.total).toEqual({
      bytes: total(bytes), bytes_tx: total((r) => r.bytes_tx), bytes_rx: total((r) => r.bytes_rx),
      packets: total((r) => r.packets_tx + r.packets_rx), packets_tx: total((r) => r.packets_tx),
      packets_rx: total((r) => r.packets_rx), flows: records.filter((r) => r.seq === 0).length,
      handshakes: handshakes.length, synack_us_sum: total((r) => r.tcp_synack_us ?? 0), ack_us_sum: total((r) => r.tcp_ack_us ?? 0),
      handshake_us_max: Math.max(...handshakes.map((r) => r.tcp_synack_us! + r.tcp_ack_us!)),
      dns_responses: dns.length, dns_rtt_us_sum: total((r) => r.dns_rtt_us ?? 0), dns_rtt_us_max: Math.max(...dns.map((r) => r.dns_rtt_us!)),
    });
  });

  test('include_open is accepted; an agent without a flow table (serve) says it answered from the store only', async () => {
    const reply = await call(agent, 'POST', '/api/v1/query', { kind: 'summary', ...RANGE, include_open: true });
    expect(reply.status).toBe(200);
    expect(reply.json.live).toEqual({ available: false, as_of_us: null, open_records: 0, pending_records: 0, omitted_records: 0 });
    const bad = await call(agent, 'POST', '/api/v1/query', { kind: 'summary', ...RANGE, include_open: 'yes' });
    expect([bad.status, bad.json.field]).toEqual([400, 'include_open']);
  });

  test('top by node and a filtered top agree with the records', async () => {
    const reply = await call(agent, 'POST', '/api/v1/query', { kind: 'top', ...RANGE, group_by: ['node'], metric: 'bytes', limit: 1 });
    expect(reply.status).toBe(200);
    const perNode = ['node-a', 'node-b'].map((node) => ({ node, value: total(bytes, records.filter((r) => r.node === node)) }));
    perNode.sort((a, b) => b.value - a.value);
    expect(reply.json.rows.map((row: { key: object; value: number }) => [row.key, row.value])).toEqual([
      [{ node: perNode[0]!.node }, perNode[0]!.value],
    ]);
    expect(reply.json.other).toMatchObject({ groups: 1, value: perNode[1]!.value });

    const filtered = await call(agent, 'POST', '/api/v1/query', {
      kind: 'top', ...RANGE, group_by: ['dst_port'], metric: 'packets', limit: 0,
      filters: [{ field: 'protocol', op: 'eq', value: 'tcp' }, { field: 'dst_port', op: 'in', values: [22, 443] }],
    });
    expect(filtered.status).toBe(200);
    expect(filtered.json.rows).toHaveLength(2);
    for (const port of [22, 443]) {
      const subset = records.filter((r) => r.protocol === 'tcp' && r.dst_port === port);
      const row = filtered.json.rows.find((x: { key: { dst_port: number } }) => x.key.dst_port === port);
      expect(row.value).toBe(total((r) => r.packets_tx + r.packets_rx, subset));
    }
  });

  test('timeseries buckets sum to the total; values lists the nodes with counts', async () => {
    const series = await call(agent, 'POST', '/api/v1/query', { kind: 'timeseries', ...RANGE, interval_ms: 60_000, metric: 'bytes' });
    expect(series.status).toBe(200);
    const summed = series.json.series.reduce((t: number, s: { values: number[] }) => t + s.values.reduce((a, b) => a + b, 0), 0);
    expect(summed).toBe(total(bytes));
    const values = await call(agent, 'POST', '/api/v1/query', { kind: 'values', ...RANGE, dimension: 'node' });
    expect(values.status).toBe(200);
    const counts = Object.fromEntries(values.json.values.map((v: { value: string; count: number }) => [v.value, v.count]));
    expect(counts).toEqual({
      'node-a': records.filter((r) => r.node === 'node-a').length,
      'node-b': records.filter((r) => r.node === 'node-b').length,
    });
  });
});

/** Reads an exported CSV back into FlowRecords using the schema's types (empty = null where nullable). */
function recordsFromCsv(text: string): { header: string[]; rows: Record<string, string>[]; records: FlowRecord[] } {
  const rows = parse(text, { columns: true, record_delimiter: '\r\n' }) as Record<string, string>[];
  const header = text.slice(0, text.indexOf('\r\n')).split(',');
  const properties = FlowRecordSchema.properties as Record<string, { type?: string; anyOf?: { type?: string }[] }>;
  const records = rows.map((row) => {
    const record: Record<string, unknown> = {};
    for (const [field, schema] of Object.entries(properties)) {
      const raw = row[field]!;
      const types = schema.anyOf ? schema.anyOf.map((s) => s.type) : [schema.type];
      if (raw === '' && types.includes('null')) record[field] = null;
      else if (types.includes('integer') || types.includes('number')) record[field] = Number(raw);
      else record[field] = raw;
    }
    return record as FlowRecord;
  });
  return { header, rows, records };
}

describe('CSV export', () => {
  test('streams every page and round-trips to the same records (RFC 4180 quoting)', async () => {
    const response = await fetch(`${agent.service.address}/api/v1/export.csv`, {
      method: 'POST',
      headers: { ...agent.auth, 'content-type': 'application/json' },
      body: JSON.stringify(flows({ limit: 50, order: 'oldest', cursor: 'ignored' })),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="flows.csv"');
    const text = await response.text();
    const { header, rows, records: parsed } = recordsFromCsv(text);
    expect(header).toEqual(['start_time', 'end_time', 'start_ms', 'end_ms', ...Object.keys(FlowRecordSchema.properties)]);
    expect([...parsed].sort(byFlowId)).toEqual([...records].sort(byFlowId));
    // oldest first across page boundaries
    const starts = parsed.map((r) => r.start_us);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    // human-readable and epoch-ms columns describe the same instants
    for (const row of rows) {
      const startUs = Number(row.start_us);
      expect(row.start_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(Date.parse(row.start_time!)).toBe(Number(row.start_ms));
      expect(Number(row.start_ms)).toBe(Math.floor(startUs / 1000));
      expect(row.start_time!.slice(20, 26)).toBe(String(startUs % 1_000_000).padStart(6, '0'));
      expect(Number(row.end_ms)).toBe(Math.floor(Number(row.end_us) / 1000));
    }
    // the names that need quoting were really there
    expect(text).toContain('"db,primary"');
    expect(text).toContain('"laptop ""x"""');
    expect(text).toContain('"multi\nline"');
  });

  test('a filtered export holds exactly the matching records; an empty one is just the header', async () => {
    const filter = { field: 'src_name', op: 'eq', value: 'db,primary' };
    const reply = await call(agent, 'POST', '/api/v1/export.csv', flows({ filters: [filter] }));
    expect(reply.status).toBe(200);
    const { records: parsed } = recordsFromCsv(reply.text);
    const expected = records.filter((r) => r.src_name === 'db,primary');
    expect(expected.length).toBeGreaterThan(0);
    expect(parsed.sort(byFlowId)).toEqual(expected.sort(byFlowId));

    const empty = await call(agent, 'POST', '/api/v1/export.csv', flows({ from: 0, to: 1000 }));
    expect(empty.status).toBe(200);
    expect(empty.text).toBe(`start_time,end_time,start_ms,end_ms,${Object.keys(FlowRecordSchema.properties).join(',')}\r\n`);
  });
});
