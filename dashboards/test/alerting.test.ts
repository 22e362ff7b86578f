/**
 * provisioning/grafana/alerting: structure Grafana's file provisioning expects, every rule
 * wired (condition and expression inputs name existing refIds, every query is used, no
 * cycles), data sources provisioned, queries valid for the plugin and the agent and numeric
 * (alertable), expressions of known types with valid settings, and the math of the spike
 * rules behaving as documented on sample values. Contact points and policies reference
 * each other consistently.
 */
import path from 'node:path';
import Ajv from 'ajv';
import { DIMENSIONS, FilterSchema, METRICS } from '../../agent/src/model/query';
import { contractQueryTypes, fromRoot, provisionedDatasources, readYaml, yamlFiles } from './helpers';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const alertingDir = fromRoot('provisioning/grafana/alerting');
const files = yamlFiles(alertingDir).map((file) => ({ file: path.basename(file), doc: readYaml<Json>(file) }));
const groups: Json[] = files.flatMap(({ doc }) => doc.groups ?? []);
const rules: Json[] = groups.flatMap((g) => g.rules);
const contactPoints: Json[] = files.flatMap(({ doc }) => doc.contactPoints ?? []);
const policies: Json[] = files.flatMap(({ doc }) => doc.policies ?? []);

const datasourceUids = new Set(provisionedDatasources().map((d) => d.uid));
const EXPR = '__expr__';
const DURATION = /^(\d+(ms|s|m|h|d|w))+$/;
const REDUCERS = ['last', 'mean', 'min', 'max', 'sum', 'count', 'median'];
const THRESHOLD_ARITY: Record<string, number> = {
  gt: 1, lt: 1, eq: 1, ne: 1, gte: 1, lte: 1,
  within_range: 2, outside_range: 2, within_range_included: 2, outside_range_included: 2,
};
/** Query types whose frames alerting can use (numeric series or numbers with labels). */
const ALERTABLE_QUERY_TYPES = ['timeseries', 'top', 'summary'];

const mathRefs = (expression: string) => [...expression.matchAll(/\$\{?([A-Za-z][A-Za-z0-9_]*)\}?/g)].map((m) => m[1]);
const inputsOf = (d: Json): string[] => {
  if (d.datasourceUid !== EXPR) return [];
  return d.model.type === 'math' ? mathRefs(d.model.expression) : [d.model.expression];
};

test('every file is apiVersion 1 and the rules, contact points and policy are all there', () => {
  for (const { file, doc } of files) expect({ file, apiVersion: doc.apiVersion }).toEqual({ file, apiVersion: 1 });
  expect(rules.map((r) => r.uid).sort()).toEqual(
    ['flowmesh-failed-connections', 'flowmesh-new-external-destination', 'flowmesh-port-scan', 'flowmesh-slow-handshakes', 'flowmesh-traffic-spike'],
  );
  expect(contactPoints.length).toBeGreaterThan(0);
  expect(policies).toHaveLength(1);
});

test('groups carry org, name, folder and a valid interval; names are unique', () => {
  for (const g of groups) {
    expect(g).toMatchObject({ orgId: 1, name: expect.any(String), folder: expect.any(String), interval: expect.stringMatching(DURATION) });
    expect(g.rules.length).toBeGreaterThan(0);
  }
  expect(new Set(groups.map((g) => g.name)).size).toBe(groups.length);
});

describe.each(rules.map((r) => [r.uid, r] as [string, Json]))('rule %s', (_uid, rule) => {
  const refIds: string[] = rule.data.map((d: Json) => d.refId);

  test('identity and evaluation settings', () => {
    expect(rule.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(rule.title).toEqual(expect.any(String));
    expect(rule.for).toMatch(DURATION);
    expect(['OK', 'NoData', 'Alerting', 'KeepLast']).toContain(rule.noDataState);
    expect(['OK', 'Error', 'Alerting', 'KeepLast']).toContain(rule.execErrState);
    expect(rule.labels.severity).toMatch(/^(info|warning|critical)$/);
    expect(rule.annotations.summary).toEqual(expect.any(String));
    expect(rule.annotations.description).toEqual(expect.any(String));
  });

  test('refIds are unique, the model repeats its refId, the condition is one of them', () => {
    expect(new Set(refIds).size).toBe(refIds.length);
    for (const d of rule.data) expect(d.model.refId).toBe(d.refId);
    expect(refIds).toContain(rule.condition);
    expect(rule.data.find((d: Json) => d.refId === rule.condition).datasourceUid).toBe(EXPR);
  });

  test('every expression input exists, every query feeds the condition, and there is no cycle', () => {
    const byRef = Object.fromEntries(rule.data.map((d: Json) => [d.refId, d]));
    for (const d of rule.data) {
      for (const input of inputsOf(d)) expect({ from: d.refId, input, exists: input in byRef && input !== d.refId }).toEqual({ from: d.refId, input, exists: true });
    }
    const reached = new Set<string>();
    const visit = (ref: string, path: string[]) => {
      expect(path).not.toContain(ref);
      reached.add(ref);
      for (const input of inputsOf(byRef[ref])) visit(input, [...path, ref]);
    };
    visit(rule.condition, []);
    expect([...reached].sort()).toEqual([...refIds].sort());
  });

  test('data sources are provisioned (or __expr__) and queries have a relative time range', () => {
    for (const d of rule.data) {
      if (d.datasourceUid === EXPR) continue;
      expect(datasourceUids).toContain(d.datasourceUid);
      expect(d.relativeTimeRange.from).toBeGreaterThan(d.relativeTimeRange.to);
      expect(d.relativeTimeRange.to).toBeGreaterThanOrEqual(0);
    }
  });

  test('expressions are valid reduce/math/threshold models', () => {
    for (const d of rule.data.filter((x: Json) => x.datasourceUid === EXPR)) {
      const m = d.model;
      expect(['reduce', 'math', 'threshold', 'resample', 'classic_conditions']).toContain(m.type);
      if (m.type === 'reduce') {
        expect(REDUCERS).toContain(m.reducer);
        expect(['', 'dropNN', 'replaceNN']).toContain(m.settings?.mode ?? '');
        expect(rule.data.find((x: Json) => x.refId === m.expression).datasourceUid).not.toBe(EXPR);
      }
      if (m.type === 'math') expect(mathRefs(m.expression).length).toBeGreaterThan(0);
      if (m.type === 'threshold') {
        expect(m.conditions.length).toBeGreaterThan(0);
        for (const c of m.conditions) {
          expect(Object.keys(THRESHOLD_ARITY)).toContain(c.evaluator.type);
          expect(c.evaluator.params).toHaveLength(THRESHOLD_ARITY[c.evaluator.type]);
          for (const p of c.evaluator.params) expect(typeof p).toBe('number');
        }
      }
    }
  });

  test('Flowmesh queries are alertable and valid for the plugin and the agent', () => {
    const validateFilter = new Ajv({ strict: false, allErrors: true }).compile(FilterSchema);
    const queries = rule.data.filter((d: Json) => d.datasourceUid === 'flowmesh').map((d: Json) => d.model);
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) {
      expect(contractQueryTypes()).toContain(q.queryType);
      expect(ALERTABLE_QUERY_TYPES).toContain(q.queryType);
      for (const dim of [...(q.groupBy ?? []), ...(q.splitBy ?? [])]) expect(DIMENSIONS).toContain(dim);
      expect(METRICS).toContain(q.metric);
      for (const f of q.filters ?? []) expect(validateFilter(f) ? f : validateFilter.errors).toBe(f);
      // Alert evaluation has no dashboard: no template variables may remain.
      expect(JSON.stringify(q)).not.toMatch(/\$\{?[a-z]/);
      if (q.queryType === 'timeseries') {
        expect(q.intervalMs).toBeGreaterThan(0);
        expect(q.splitLimit).toBe(0); // every series, so labels match across A and B and nothing hides in "other"
      }
    }
  });
});

describe('the math of the rules on sample values', () => {
  /** Grafana math on scalars: $X references, arithmetic, comparisons and && / || give 1 or 0. */
  const evaluate = (expression: string, values: Record<string, number>): number => {
    const js = expression.replace(/\$\{?([A-Za-z]\w*)\}?/g, (_, ref: string) => {
      if (!(ref in values)) throw new Error(`no value for $${ref}`);
      return `(${values[ref]})`;
    });
    expect(js).toMatch(/^[\d\s().+\-*/<>=&|!]+$/);
    return Number(new Function(`return (${js});`)());
  };
  const math = (uid: string) => rules.find((r) => r.uid === uid)!.data.find((d: Json) => d.model.type === 'math').model.expression;
  const MiB = 1024 * 1024;

  test('traffic spike: fires above 10 MiB and 3x the hourly 5-minute average only', () => {
    const expression = math('flowmesh-traffic-spike');
    expect(evaluate(expression, { C: 40 * MiB, D: 12 * 5 * MiB })).toBe(1); // 40 MiB vs 5 MiB average
    expect(evaluate(expression, { C: 12 * MiB, D: 12 * 5 * MiB })).toBe(0); // only 2.4x
    expect(evaluate(expression, { C: 8 * MiB, D: 0 })).toBe(0); // below the 10 MiB floor
  });

  test('slow handshakes: fires above 500 ms on average over at least 3 handshakes only', () => {
    const expression = math('flowmesh-slow-handshakes');
    expect(evaluate(expression, { C: 1_050_000, D: 3 })).toBe(1); // a retransmitted SYN each time
    expect(evaluate(expression, { C: 1_050_000, D: 2 })).toBe(0); // too few to say
    expect(evaluate(expression, { C: 40_000, D: 500 })).toBe(0);
  });

  test('new external destination: fires only when all 24 h of connections are in the last 10 minutes', () => {
    const expression = math('flowmesh-new-external-destination');
    expect(evaluate(expression, { C: 3, D: 3 })).toBe(1);
    expect(evaluate(expression, { C: 7, D: 3 })).toBe(0);
    expect(evaluate(expression, { C: 4, D: 0 })).toBe(0);
  });
});

test('contact points: unique names and receiver uids, known types with their required settings', () => {
  const names = contactPoints.map((c) => c.name);
  expect(new Set(names).size).toBe(names.length);
  const receivers = contactPoints.flatMap((c) => c.receivers);
  expect(new Set(receivers.map((r) => r.uid)).size).toBe(receivers.length);
  for (const r of receivers) {
    expect(['webhook', 'email']).toContain(r.type);
    if (r.type === 'webhook') expect(new URL(r.settings.url).protocol).toMatch(/^https?:$/);
    if (r.type === 'email') expect(r.settings.addresses).toMatch(/@/);
  }
});

test('the notification policy routes only to provisioned contact points with valid matchers', () => {
  const names = new Set(contactPoints.map((c) => c.name));
  const walk = (policy: Json) => {
    if (policy.receiver !== undefined) expect(names).toContain(policy.receiver);
    for (const m of policy.object_matchers ?? []) {
      expect(m).toHaveLength(3);
      expect(['=', '!=', '=~', '!~']).toContain(m[1]);
    }
    for (const d of ['group_wait', 'group_interval', 'repeat_interval']) if (policy[d]) expect(policy[d]).toMatch(DURATION);
    (policy.routes ?? []).forEach(walk);
  };
  expect(policies[0]).toMatchObject({ orgId: 1, receiver: expect.any(String) });
  walk(policies[0]);
  // Every label the rules route on exists on some rule.
  const ruleLabels = new Set(rules.flatMap((r) => Object.keys(r.labels)));
  for (const route of policies[0].routes ?? []) for (const [label] of route.object_matchers) expect(ruleLabels).toContain(label);
});
