/**
 * The shipped dashboards: checked-in JSON equals the generator's output, valid against the
 * foundation SDK's schemas, every data source reference resolvable, every Flowmesh query
 * and filter valid for the plugin and the agent, units everywhere, stable uids, and every
 * PromQL expression parses and names only contract metrics.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { DIMENSIONS, FilterSchema, METRICS } from '../../agent/src/model/query';
import { DASHBOARDS, render } from '../src/dashboards';
import { DASHBOARD_UIDS, FLOW_COLUMNS, FLOW_HIDDEN_FIELDS } from '../src/common';
import { DIMENSION_LABELS, FLOW_FIELDS, METRIC_LABELS, TOP_TOTAL_LABELS } from '../src/frames';
import {
  contractMetricNames, contractQueryTypes, explain, fromRoot, newAjv, provisionedDatasources, run, sdkSchema,
} from './helpers';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const jsonDir = fromRoot('dashboards/json');
const shipped: [string, Json][] = readdirSync(jsonDir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f, JSON.parse(readFileSync(path.join(jsonDir, f), 'utf8'))]);

/** Panels including those nested in collapsed rows. */
const allPanels = (d: Json): Json[] => (d.panels ?? []).flatMap((p: Json) => [p, ...(p.panels ?? [])]);
const dataPanels = (d: Json) => allPanels(d).filter((p) => p.type !== 'row' && p.type !== 'text');
const flowmeshTargets = (d: Json) =>
  dataPanels(d).flatMap((p) => (p.targets ?? []).filter((t: Json) => t.datasource?.type === 'flowmesh-flows-datasource'));

const PLUGIN_ID = 'flowmesh-flows-datasource';
const datasources = provisionedDatasources();

test('the checked-in dashboards are exactly what `npm run -w dashboards generate` writes', () => {
  expect(shipped.map(([f]) => f).sort()).toEqual(Object.keys(DASHBOARDS).sort());
  for (const [file, build] of Object.entries(DASHBOARDS)) {
    expect({ file, json: readFileSync(path.join(jsonDir, file), 'utf8') }).toEqual({ file, json: render(build) });
  }
});

test('dashboard uids are stable and unique', () => {
  const uids = Object.fromEntries(shipped.map(([f, d]) => [f, d.uid]));
  expect(uids).toEqual({
    'flowmesh-node.json': DASHBOARD_UIDS.node,
    'flowmesh-overview.json': DASHBOARD_UIDS.overview,
    'flowmesh-topology.json': DASHBOARD_UIDS.topology,
    'flowmesh-troubleshooting.json': DASHBOARD_UIDS.troubleshooting,
  });
  expect(Object.values(DASHBOARD_UIDS)).toEqual(['flowmesh-overview', 'flowmesh-node', 'flowmesh-troubleshooting', 'flowmesh-topology']);
});

describe('valid against the foundation SDK schemas (draft-07, generated from the SDK types)', () => {
  const ajv = newAjv();
  const dashboardSchema = sdkSchema('dashboard', 'Dashboard');
  // Queries are validated against the plugin and agent models below; here only their envelope.
  dashboardSchema.definitions.Dataquery = { type: 'object', required: ['refId'], properties: { refId: { type: 'string' } } };
  const validateDashboard = ajv.compile(dashboardSchema);
  const panelSchemas: Record<string, { options: string; fieldConfig?: string }> = {
    stat: { options: 'Options' },
    table: { options: 'Options', fieldConfig: 'FieldConfig' },
    timeseries: { options: 'Options', fieldConfig: 'FieldConfig' },
    nodeGraph: { options: 'Options' },
  };
  /** Field config is partial in dashboards (Grafana fills the rest): drop the root's `required`. */
  const partial = (schema: Json) => {
    const copy = structuredClone(schema);
    let root = copy;
    while (root.$ref) root = copy.definitions[root.$ref.split('/').pop()];
    delete root.required;
    return copy;
  };
  const moduleOf = (type: string) => (type === 'nodeGraph' ? 'nodegraph' : type);
  const validators = Object.fromEntries(
    Object.entries(panelSchemas).map(([type, s]) => [
      type,
      {
        options: ajv.compile(sdkSchema(moduleOf(type), s.options)),
        fieldConfig: s.fieldConfig ? ajv.compile(partial(sdkSchema(moduleOf(type), s.fieldConfig))) : undefined,
      },
    ]),
  );

  test('the schemas reject misspelt or mistyped settings (negative control)', () => {
    expect(validateDashboard({ ...shipped[0][1], refreshh: '1m' })).toBe(false);
    expect(validators.timeseries.options({ legend: { displayMode: 'tabel', placement: 'bottom', showLegend: true, calcs: [] } })).toBe(false);
    expect(validators.table.fieldConfig!({ cellOptions: { type: 'gauge', mode: 'sparkly' } })).toBe(false);
    expect(validators.stat.options({ reduceOptions: { calcs: 'sum' } })).toBe(false);
  });

  test.each(shipped)('%s: dashboard schema', (file, d) => {
    expect(validateDashboard(d) ? '' : explain(validateDashboard, file)).toBe('');
  });

  test.each(shipped)('%s: panel options and custom field config', (file, d) => {
    const problems: string[] = [];
    for (const panel of dataPanels(d)) {
      const v = validators[panel.type];
      if (!v) {
        problems.push(`${file} panel ${panel.id}: no schema for panel type ${panel.type}`);
        continue;
      }
      if (!v.options(panel.options ?? {})) problems.push(explain(v.options, `${file} panel ${panel.id} options`));
      if (v.fieldConfig) {
        const customs = [
          panel.fieldConfig?.defaults?.custom ?? {},
          ...(panel.fieldConfig?.overrides ?? []).flatMap((o: Json) =>
            o.properties.filter((p: Json) => p.id.startsWith('custom.')).map((p: Json) => ({ [p.id.slice(7)]: p.value })),
          ),
        ];
        for (const custom of customs) {
          if (!v.fieldConfig(custom)) problems.push(explain(v.fieldConfig, `${file} panel ${panel.id} custom`));
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

test.each(shipped)('%s: panel ids are unique and every panel sits inside the 24-column grid', (_file, d) => {
  const ids = allPanels(d).map((p) => p.id);
  expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
  expect(new Set(ids).size).toBe(ids.length);
  for (const p of allPanels(d)) {
    expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
  }
});

test.each(shipped)('%s: every data source is the ${ds} variable or a provisioned uid', (file, d) => {
  const uids = new Set(datasources.map((ds) => ds.uid));
  const refs: Json[] = [
    ...dataPanels(d).flatMap((p) => [p.datasource, ...(p.targets ?? []).map((t: Json) => t.datasource)]),
    ...d.templating.list.filter((v: Json) => v.datasource).map((v: Json) => v.datasource),
  ];
  expect(refs.length).toBeGreaterThan(0);
  for (const ref of refs) {
    expect(ref).toBeDefined();
    const ok = ref.uid === '${ds}' ? ref.type === PLUGIN_ID : uids.has(ref.uid);
    expect({ file, ref, ok }).toEqual({ file, ref, ok: true });
  }
  // Panel and query agree, and Prometheus panels use the Prometheus data source.
  for (const p of dataPanels(d)) {
    for (const t of p.targets ?? []) expect(t.datasource).toEqual(p.datasource);
  }
  // The ds variable offers the plugin's data sources and defaults to the provisioned one.
  const ds = d.templating.list.find((v: Json) => v.name === 'ds');
  expect(ds).toMatchObject({ type: 'datasource', query: PLUGIN_ID });
  const provisionedFlowmesh = datasources.find((x) => x.uid === ds.current.value);
  expect(provisionedFlowmesh?.type).toBe(PLUGIN_ID);
  expect(datasources.find((x) => x.uid === 'prometheus')?.type).toBe('prometheus');
});

describe('Flowmesh queries use only what the plugin and the agent understand', () => {
  const ajv = newAjv();
  const validateFilter = ajv.compile(FilterSchema);
  const queryTypes = contractQueryTypes();
  const dims = new Set<string>(DIMENSIONS);
  const metrics = new Set<string>(METRICS);
  const allowedKeys = new Set([
    'refId', 'datasource', 'hide', 'queryType', 'agents', 'filters', 'text', 'groupBy', 'metric', 'limit', 'splitBy',
    'splitLimit', 'order', 'dedupe', 'topologyBy', 'interval', 'includeOpen',
  ]);
  /** Variables become a sample value, as the plugin interpolates them before the agent sees them. */
  const interpolate = (filter: Json): Json =>
    JSON.parse(JSON.stringify(filter).replace(/\$\{[a-z_]+\}/g, 'sample'));

  test('the contract lists the query types the dashboards use', () => {
    expect(queryTypes).toEqual(['flows', 'top', 'timeseries', 'summary', 'topology']);
  });

  test.each(shipped)('%s', (file, d) => {
    const targets = flowmeshTargets(d);
    expect(targets.length).toBeGreaterThan(0);
    for (const t of targets) {
      const where = `${file} ${t.refId} ${t.queryType}`;
      expect({ where, unknownKeys: Object.keys(t).filter((k) => !allowedKeys.has(k)) }).toEqual({ where, unknownKeys: [] });
      expect(queryTypes).toContain(t.queryType);
      for (const dim of [...(t.groupBy ?? []), ...(t.splitBy ?? [])]) expect({ where, dim, known: dims.has(dim) }).toEqual({ where, dim, known: true });
      if (t.metric !== undefined) expect(metrics.has(t.metric)).toBe(true);
      if (t.queryType === 'top') expect(t.groupBy.length).toBeGreaterThanOrEqual(1);
      if (t.groupBy) expect(t.groupBy.length).toBeLessThanOrEqual(4);
      if (t.splitBy) expect(t.splitBy.length).toBeLessThanOrEqual(3);
      if (t.queryType === 'flows') expect(t.limit).toBeLessThanOrEqual(10000);
      if (t.queryType === 'top') expect(t.limit).toBeLessThanOrEqual(100000);
      if (t.dedupe !== undefined) expect(['default', 'none', 'connection']).toContain(t.dedupe);
      if (t.topologyBy !== undefined) expect(['ip', 'name']).toContain(t.topologyBy);
      for (const filter of t.filters ?? []) {
        const ok = validateFilter(interpolate(filter));
        expect(ok ? '' : `${explain(validateFilter, where)} in ${JSON.stringify(filter)}`).toBe('');
      }
    }
  });

  test.each(shipped)('%s: variables query known dimensions and filters name defined variables', (file, d) => {
    const names = new Set(d.templating.list.map((v: Json) => v.name));
    for (const v of d.templating.list.filter((x: Json) => x.type === 'query')) {
      expect(v.query).toEqual({ queryType: 'values', dimension: expect.any(String) });
      expect(dims.has(v.query.dimension)).toBe(true);
    }
    const used = [...JSON.stringify(flowmeshTargets(d)).matchAll(/\$\{([a-z_]+)\}/g)].map((m) => m[1]);
    for (const name of used) expect({ file, name, defined: names.has(name) }).toEqual({ file, name, defined: true });
    expect(names).toContain('filters');
    expect(d.templating.list.find((v: Json) => v.name === 'filters')).toMatchObject({ type: 'adhoc' });
  });

  test.each(shipped)('%s: transformations group by fields the query returns (by display name)', (_file, d) => {
    for (const p of dataPanels(d)) {
      for (const tr of (p.transformations ?? []).filter((x: Json) => x.id === 'groupBy')) {
        const columns = (p.targets[0].groupBy as string[]).map((dim) => DIMENSION_LABELS[dim]);
        for (const field of Object.keys(tr.options.fields)) expect(columns).toContain(field);
      }
    }
  });
});

test.each(shipped)('%s: readable without an inventory: a table grouping by a name also shows its address', (file, d) => {
  for (const t of flowmeshTargets(d).filter((x) => x.queryType === 'top')) {
    for (const side of ['src', 'dst']) {
      if (t.groupBy.includes(`${side}_name`)) expect({ file, groupBy: t.groupBy, address: t.groupBy.includes(`${side}_ip`) }).toEqual({ file, groupBy: t.groupBy, address: true });
    }
  }
});

test.each(shipped)('%s: every numeric panel sets a unit', (file, d) => {
  for (const p of dataPanels(d)) {
    const unit = p.fieldConfig?.defaults?.unit;
    expect({ file, panel: p.title, unit: typeof unit === 'string' && unit.length > 0 }).toEqual({ file, panel: p.title, unit: true });
  }
});

describe('Prometheus panels', () => {
  const exprs = shipped.flatMap(([file, d]) =>
    dataPanels(d)
      .filter((p) => p.datasource?.uid === 'prometheus')
      .flatMap((p) => p.targets.map((t: Json) => ({ file, panel: p.title, expr: t.expr as string }))),
  );

  test('name only metrics from docs/CONTRACTS.md', () => {
    const known = contractMetricNames();
    expect(known).toContain('flowmesh_capture_kernel_drops_total');
    expect(exprs.length).toBeGreaterThan(0);
    for (const { expr } of exprs) {
      for (const [name] of expr.matchAll(/flowmesh_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        expect({ name, known: known.includes(name) || known.includes(base) }).toEqual({ name, known: true });
      }
    }
  });

  test('every expression parses (promtool check rules)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowmesh-promql-'));
    try {
      const rules = exprs.map(({ expr }, i) => ({
        record: `dashboard:expr_${i}`,
        expr: expr.replace(/\$__rate_interval/g, '5m').replace(/\$node/g, 'node-a'),
      }));
      const file = path.join(dir, 'exprs.yml');
      writeFileSync(file, stringify({ groups: [{ name: 'dashboard-exprs', rules }] }));
      const result = run('promtool', ['check', 'rules', file]);
      expect(result.output).toContain('SUCCESS');
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('field names match the plugin frames (plugin/pkg/frames, Go source)', () => {
  const framesDir = fromRoot('plugin/pkg/frames');
  const go = (file: string) => readFileSync(path.join(framesDir, file), 'utf8');
  /** `"key": "Label"` pairs of a Go map literal named `name`. */
  const goMap = (source: string, name: string) => {
    const body = new RegExp(`var ${name} = map\\[string\\]string\\{([^}]*)\\}`).exec(source)?.[1];
    if (!body) throw new Error(`plugin/pkg/frames: map ${name} not found; update dashboards/src/frames.ts`);
    return Object.fromEntries([...body.matchAll(/"([^"]+)":\s*"([^"]+)"/g)].map((m) => [m[1], m[2]]));
  };

  test('dimension and metric display names', () => {
    expect(DIMENSION_LABELS).toEqual(goMap(go('frames.go'), 'dimensionLabels'));
    expect(METRIC_LABELS).toEqual(goMap(go('frames.go'), 'metricLabels'));
    for (const dim of DIMENSIONS) expect(DIMENSION_LABELS[dim]).toEqual(expect.any(String));
  });

  test('top totals columns', () => {
    const source = go('aggregates.go');
    for (const [key, label] of Object.entries(TOP_TOTAL_LABELS)) expect(source).toContain(`data.NewField("total_${key}", nil, total${key[0].toUpperCase()}${key.slice(1)}).SetConfig(config("${label}"`);
  });

  test('flow frame fields and display names; each is shown or deliberately hidden', () => {
    const fields = Object.fromEntries(
      [...go('flows.go').matchAll(/data\.NewField\("([a-z_]+)", nil, \w+\)\.SetConfig\((?:filterable\()?(?:config\("([^"]+)"|(\w+)Config\))/g)].map(
        (m) => [m[1], m[2] ?? null],
      ),
    );
    expect(Object.keys(fields).sort()).toEqual(Object.keys(FLOW_FIELDS).sort());
    for (const [field, label] of Object.entries(fields)) if (label) expect({ field, label: FLOW_FIELDS[field] }).toEqual({ field, label });
    const placed = [...FLOW_COLUMNS.map((c) => c.field), ...FLOW_HIDDEN_FIELDS].sort();
    expect(placed).toEqual(Object.keys(FLOW_FIELDS).sort());
  });
});
