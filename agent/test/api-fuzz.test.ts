/**
 * API fuzz: a few thousand seeded malformed bodies and mutated query documents against a
 * running agent. Every answer must be 2xx or 4xx with an ApiError body on 4xx (never a 5xx,
 * never a stack), and the agent must still be healthy afterwards.
 */
import { seededRandom } from '../src/bench/flow-records';
import { BASE_MS, call, makeRecords, startTestAgent, type TestAgent } from './http-fixture';
import { DIMENSIONS, METRICS } from '../src/model/query';
import { TCP_FLAG_NAMES } from '../src/model/flow';

// FLOWMESH_FUZZ_SEED explores other seeds; the default keeps CI reproducible.
const SEED = Number(process.env.FLOWMESH_FUZZ_SEED ?? 20261121);
const CASES = 2500;
const PARALLEL = 6;

const random = seededRandom(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const FIELDS = [...DIMENSIONS, 'ip', 'port', 'name', 'type', 'bytes', 'packets', 'duration_ms', 'icmp_type', 'tcp_flags', 'text', 'nope', ''];
const OPS = ['eq', 'neq', 'in', 'nin', 'cidr', 'not_cidr', 'range', 'gt', 'gte', 'lt', 'lte', 'has_all', 'has_any', 'has_none', 'contains', 'like'];
const STRINGS = ['', 'x', '10.0.0.0/8', 'fd00::/8', '10.0.0.1', '::1', '999.1.1.1', '10.0.0.0/33', 'node-a', 'tcp', "'; DROP TABLE flows; --",
  '%', '_', '\\', '"', '\u0000', '\ud800', '💥', 'a'.repeat(2000), '1e309', 'NaN', '__proto__', 'constructor'];
const NUMBERS = [0, -1, 1, 0.5, 65535, 65536, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e308, 1e-300, BASE_MS, BASE_MS + 600_000];

function randomJson(depth = 0): unknown {
  switch (int(depth > 2 ? 4 : 6)) {
    case 0: return pick(STRINGS);
    case 1: return pick(NUMBERS);
    case 2: return pick([true, false, null]);
    case 3: return pick([...FIELDS, ...OPS, ...METRICS]);
    case 4: return Array.from({ length: int(4) }, () => randomJson(depth + 1));
    default: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick([...FIELDS, 'kind', 'from', 'to', 'op', 'value']), randomJson(depth + 1)]));
  }
}

function randomFilter(): Record<string, unknown> {
  const filter: Record<string, unknown> = { field: pick(FIELDS), op: pick(OPS) };
  switch (int(5)) {
    case 0: filter.value = pick([...STRINGS, ...NUMBERS]); break;
    case 1: filter.values = Array.from({ length: int(5) }, () => pick([...STRINGS, ...NUMBERS])); break;
    case 2: Object.assign(filter, { min: pick(NUMBERS), max: pick(NUMBERS) }); break;
    case 3: filter.flags = Array.from({ length: int(4) }, () => pick([...TCP_FLAG_NAMES, 'NOPE'])); break;
    default: filter.value = randomJson(1);
  }
  return filter;
}

/** A valid query of a random kind (so mutations start from something the engine runs). */
function validQuery(): Record<string, unknown> {
  const from = BASE_MS - int(3) * 3_600_000;
  const base = { from, to: from + (1 + int(6)) * 3_600_000 };
  switch (pick(['flows', 'top', 'timeseries', 'summary', 'values'] as const)) {
    case 'flows': return { kind: 'flows', ...base, limit: 1 + int(100), order: pick(['newest', 'oldest']) };
    case 'top': return { kind: 'top', ...base, group_by: [pick(DIMENSIONS)], metric: pick(METRICS), limit: int(20) };
    case 'timeseries': return { kind: 'timeseries', ...base, interval_ms: pick([1000, 60_000, 300_000]), split_by: [pick(DIMENSIONS)] };
    case 'summary': return { kind: 'summary', ...base };
    default: return { kind: 'values', ...base, dimension: pick(DIMENSIONS), prefix: pick(['', 'n', '10.']) };
  }
}

function mutate(query: Record<string, unknown>): Record<string, unknown> {
  const mutated: Record<string, unknown> = structuredClone(query);
  for (let i = 0, n = 1 + int(3); i < n; i++) {
    const keys = Object.keys(mutated);
    switch (int(6)) {
      case 0: delete mutated[pick(keys)]; break;
      case 1: mutated[pick(keys)] = randomJson(); break;
      case 2: mutated[pick(['cursor', 'extra', 'split_limit', 'prefix', 'group_by', 'metric'])] = randomJson(); break;
      case 3: mutated[pick(['from', 'to', 'limit', 'interval_ms'])] = pick(NUMBERS); break;
      default: mutated.filters = Array.from({ length: int(4) }, randomFilter);
    }
  }
  return mutated;
}

function malformedText(): string {
  const text = JSON.stringify(validQuery());
  switch (int(4)) {
    case 0: return text.slice(0, int(text.length));
    case 1: return text.replace(/[{}[\]":,]/, pick(['', '{', ']', "'", '\\', ',,']));
    case 2: return Array.from({ length: int(64) }, () => String.fromCharCode(int(0x7f))).join('');
    default: return `${text}${pick(['}', ' garbage', '\u0000', ',{}'])}`;
  }
}

interface Case {
  route: string;
  body: string;
  contentType: string;
}

function makeCase(): Case {
  const route = pick(['/api/v1/query', '/api/v1/query', '/api/v1/query', '/api/v1/export.csv']);
  const roll = random();
  const body =
    roll < 0.3 ? malformedText() : roll < 0.45 ? JSON.stringify(randomJson()) : roll < 0.55 ? JSON.stringify(validQuery()) : JSON.stringify(mutate(validQuery()));
  const contentType = random() < 0.95 ? 'application/json' : pick(['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']);
  return { route, body, contentType };
}

describe('API fuzz', () => {
  let agent: TestAgent;
  beforeAll(async () => {
    agent = await startTestAgent(makeRecords(500, 5));
  });
  afterAll(() => agent?.close());

  test(`${CASES} malformed and mutated requests (seed ${SEED}): only 2xx/4xx, agent stays healthy`, async () => {
    const cases = Array.from({ length: CASES }, makeCase);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    const deadline = Date.now() + 25_000;
    let next = 0;
    const worker = async () => {
      while (next < cases.length && Date.now() < deadline) {
        const { route, body, contentType } = cases[next++]!;
        const response = await fetch(`${agent.service.address}${route}`, {
          method: 'POST', headers: { ...agent.auth, 'content-type': contentType }, body,
        });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const isError = response.status >= 400;
        const badError = isError && !/^\{"error":"[a-z_]+","message":"/.test(text);
        if (response.status >= 500 || badError || /node_modules|\n\s+at /.test(text)) {
          failures.push(`${response.status} ${route} ${body.slice(0, 300)} -> ${text.slice(0, 300)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    expect(failures.slice(0, 10)).toEqual([]);
    // Under heavy CPU contention the time bound may stop the run early: say so, and still demand a real sample.
    if (next < cases.length) console.warn(`API fuzz stopped by its 25 s bound after ${next} of ${cases.length} cases`);
    expect(next).toBeGreaterThanOrEqual(1000);
    // the fuzz reached the engine: plenty of successes and plenty of refusals
    expect(statuses.get(200) ?? 0).toBeGreaterThan(next / 20);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(next / 3);
    expect((await call(agent, 'GET', '/health', undefined, {})).status).toBe(200);
    expect((await call(agent, 'POST', '/api/v1/query', { kind: 'summary', from: BASE_MS - 3_600_000, to: BASE_MS + 3_600_000 })).json.records).toBe(500);
  });
});
