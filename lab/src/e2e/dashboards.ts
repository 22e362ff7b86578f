/**
 * The shipped dashboards opened the way Grafana opens them, without a Grafana server: for
 * every dashboard in dashboards/json, its variables are resolved as Grafana does
 * (../grafana/template.ts), once with their saved defaults, once with "All" everywhere a
 * variable offers it, and once with one concrete value per query variable taken from the
 * values resource; each panel's Flowmesh query then goes through the plugin frontend's own
 * applyTemplateVariables code (plugin/src/variables.ts) with Grafana's TemplateSrv semantics,
 * is sent to the plugin backend as Grafana's query runner sends it (interval and max data
 * points from the panel width and the dashboard's time range), and the answer is checked
 * against what the panel needs (../grafana/panels.ts) and links (../grafana/links.ts).
 *
 * The result lists every panel query run and every problem found; the caller asserts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DIMENSIONS } from '@flowmesh/agent/src/model/query';
import { interpolateQuery } from '@flowmesh/plugin/src/variables';
import type { FlowmeshQuery } from '@flowmesh/plugin/src/types';
import { checkDataLink, hiddenDashboardLinks, panelLinks } from '../grafana/links';
import { isEmpty, panelFit } from '../grafana/panels';
import {
  TemplateSrv, allValue, customOptions, dashboardVariables, defaultValue, sortOptions,
  type AdHocFilter, type Json, type Variable, type VariableValue,
} from '../grafana/template';
import { notices, type DataResponse, type FrameJson, type PluginBackend, type TimeRange } from './plugin-backend';

export const DASHBOARD_DIR = resolve(__dirname, '..', '..', '..', 'dashboards', 'json');
export const PLUGIN_TYPE = 'flowmesh-flows-datasource';

export type Scenario = 'defaults' | 'all' | 'value';
export const SCENARIOS: readonly Scenario[] = ['defaults', 'all', 'value'];

export interface ShippedDashboard {
  file: string;
  uid: string;
  json: Json;
  variables: Variable[];
}

export function loadDashboards(dir = DASHBOARD_DIR): ShippedDashboard[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Json;
      return { file, uid: String(json.uid), json, variables: dashboardVariables(json) };
    });
}

/** Panels with data, rows' nested panels included. */
export function dataPanels(dashboard: Json): Json[] {
  return ((dashboard.panels ?? []) as Json[]).flatMap((p) => [p, ...((p.panels ?? []) as Json[])]).filter((p) => p.type !== 'row' && p.type !== 'text');
}

const flowmeshTargets = (panel: Json): Json[] => ((panel.targets ?? []) as Json[]).filter((t) => t.datasource?.type === PLUGIN_TYPE);

/** Grafana's rangeUtil.roundInterval: the "nice" interval at or below a raw one. */
export function roundInterval(ms: number): number {
  const steps: [number, number][] = [
    [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000], [3500, 2000], [7500, 5000],
    [12500, 10000], [17500, 15000], [25000, 20000], [45000, 30000], [90000, 60000], [210000, 120000], [450000, 300000],
    [750000, 600000], [1050000, 900000], [1500000, 1200000], [2700000, 1800000], [5400000, 3600000], [9000000, 7200000],
    [16200000, 10800000], [27000000, 21600000], [39600000, 43200000],
  ];
  for (const [below, nice] of steps) if (ms < below) return nice;
  return 86400000;
}

/** Max data points and interval Grafana's query runner gives a panel: its width in pixels on a 1920 px screen. */
export function panelResolution(panel: Json, range: TimeRange): { maxDataPoints: number; intervalMs: number } {
  const maxDataPoints = Math.round((Number(panel.gridPos?.w ?? 24) / 24) * 1920);
  return { maxDataPoints, intervalMs: Math.max(1, roundInterval((range.to - range.from) / maxDataPoints)) };
}

/** Grafana's relative time "now-1h" .. "now" (the forms the dashboards use). */
export function dashboardRange(dashboard: Json, nowMs = Date.now()): TimeRange {
  const parse = (text: string): number => {
    if (text === 'now') return nowMs;
    const m = /^now-(\d+)([smhd])$/.exec(text);
    if (!m) throw new Error(`time "${text}" is not emulated here`);
    return nowMs - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  };
  return { from: parse(String(dashboard.time?.from ?? 'now-6h')), to: parse(String(dashboard.time?.to ?? 'now')) };
}

export interface PanelRun {
  dashboard: string;
  panel: string;
  panelJson: Json;
  scenario: Scenario;
  /** The query as the backend received it. */
  query: Json;
  response: DataResponse;
  /** The variable values and ad-hoc filters the query was interpolated with. */
  values: Map<string, VariableValue>;
  adHoc: AdHocFilter[];
}

export interface DashboardReport {
  runs: PanelRun[];
  /** "<dashboard> / <panel> [<scenario>]: problem" */
  problems: string[];
  /** Flowmesh targets per dashboard file. */
  targets: Record<string, number>;
  /** Panel queries run per scenario (one whose variable values an earlier scenario had is not run again). */
  scenarios: Partial<Record<Scenario, number>>;
}

interface Context {
  backend: PluginBackend;
  datasourceUid: string;
  dashboards: ShippedDashboard[];
}

/** The values resource, as the variable editor's query asks it (options of a query variable). */
async function queryOptions(ctx: Context, variable: Variable, range: TimeRange): Promise<{ options: string[]; byCount: string[] }> {
  const query = variable.model.query as { queryType?: string; dimension?: string };
  if (query?.queryType !== 'values' || !query.dimension) throw new Error(`variable ${variable.name}: query ${JSON.stringify(query)} is not a values query`);
  const res = await ctx.backend.resource('POST', 'values', { dimension: query.dimension, from: range.from, to: range.to });
  if (res.status !== 200) throw new Error(`variable ${variable.name}: values resource answered ${res.status}: ${res.body}`);
  const answer = JSON.parse(res.body) as { values: { value: string | number }[]; failed?: unknown[] };
  if ((answer.failed ?? []).length > 0) throw new Error(`variable ${variable.name}: agents failed: ${JSON.stringify(answer.failed)}`);
  const byCount = answer.values.map((v) => String(v.value));
  return { options: sortOptions(byCount, variable.sort), byCount };
}

/** Every variable's value in a scenario (datasource, custom and query variables; ad-hoc filters stay empty). */
async function resolveVariables(ctx: Context, d: ShippedDashboard, range: TimeRange, scenario: Scenario): Promise<Map<string, VariableValue>> {
  const values = new Map<string, VariableValue>();
  for (const v of d.variables) {
    switch (v.type) {
      case 'datasource':
        values.set(v.name, String(v.current ?? ''));
        break;
      case 'custom':
      case 'query': {
        const { options, byCount } = v.type === 'custom' ? { options: customOptions(v), byCount: customOptions(v) } : await queryOptions(ctx, v, range);
        if (options.length === 0) throw new Error(`${d.file}: variable ${v.name} has no options`);
        if (scenario === 'all' && v.includeAll) values.set(v.name, allValue(v, options));
        else if (scenario === 'value') values.set(v.name, v.multi ? [byCount[0]] : byCount[0]);
        else values.set(v.name, defaultValue(v, options));
        break;
      }
      case 'adhoc':
        break;
      default:
        throw new Error(`${d.file}: variable type ${v.type} is not emulated here`);
    }
  }
  return values;
}

/** What the backend receives for one panel target (Grafana's query runner + the plugin's applyTemplateVariables). */
export function panelQuery(panel: Json, target: Json, values: Map<string, VariableValue>, adHoc: AdHocFilter[], range: TimeRange): Json {
  const srv = new TemplateSrv(values);
  // The frontend code Grafana runs: plugin/src/variables.ts through DataSource.applyTemplateVariables.
  const query = interpolateQuery(target as unknown as FlowmeshQuery, {}, srv, adHoc) as unknown as Json;
  delete query.datasource; // resolved by Grafana to pick the data source; the backend gets the rest
  return { ...query, ...panelResolution(panel, range) };
}

function frameProblems(d: ShippedDashboard, frames: FrameJson[], variablesOf: (uid: string) => string[] | undefined): string[] {
  const problems: string[] = [];
  for (const frame of frames) {
    for (const field of frame.schema.fields) {
      for (const link of field.config?.links ?? []) {
        for (const p of checkDataLink(link.url, d.uid, variablesOf)) problems.push(`frame field ${field.name} link ${link.url}: ${p}`);
      }
      if (field.config?.filterable && !(DIMENSIONS as readonly string[]).includes(field.name)) {
        problems.push(`frame field ${field.name} is filterable, but an ad-hoc filter keyed "${field.name}" is no agent dimension`);
      }
    }
  }
  return problems;
}

/** Runs one panel query and checks the answer; `mustHaveRows` says whether the traffic guarantees rows. */
async function runPanel(
  ctx: Context, d: ShippedDashboard, panel: Json, target: Json, scenario: Scenario, values: Map<string, VariableValue>,
  adHoc: AdHocFilter[], range: TimeRange, variablesOf: (uid: string) => string[] | undefined,
): Promise<{ run: PanelRun; problems: string[] }> {
  const problems: string[] = [];
  const uid = new TemplateSrv(values).replace(String(target.datasource?.uid ?? ''));
  if (uid !== ctx.datasourceUid) problems.push(`data source uid resolves to "${uid}", not the provisioned "${ctx.datasourceUid}"`);
  const query = panelQuery(panel, target, values, adHoc, range);
  const response = (await ctx.backend.query([query], range))[String(query.refId)] ?? { error: 'no response for the refId' };
  const run: PanelRun = { dashboard: d.file, panel: String(panel.title), panelJson: panel, scenario, query, response, values, adHoc };
  if (response.error || (response.status !== undefined && response.status !== 200)) {
    return { run, problems: [...problems, `error response (${response.status}): ${response.error}`] };
  }
  const frames = response.frames ?? [];
  for (const n of notices(frames)) if (!n.startsWith('info:')) problems.push(`notice ${n}`);
  problems.push(...frameProblems(d, frames, variablesOf));
  if (!isEmpty(panel, frames)) problems.push(...panelFit(panel, frames));
  return { run, problems };
}

/**
 * True when the agents hold records the query selects: the same filters, agents and free
 * text as a flows query (one row is enough). A panel showing nothing although records
 * match is a failure; with no matching records, an empty panel is right.
 */
async function recordsMatch(ctx: Context, query: Json, range: TimeRange): Promise<boolean> {
  const probe = { refId: 'probe', queryType: 'flows', limit: 1, dedupe: 'none', filters: query.filters, agents: query.agents, text: query.text };
  const response = (await ctx.backend.query([probe], range)).probe;
  if (!response || response.error) throw new Error(`probe ${JSON.stringify(probe)} failed: ${response?.error}`);
  return (response.frames ?? []).some((f) => (f.data.values[0] ?? []).length > 0);
}

/** Opens every shipped dashboard in every scenario and runs every Flowmesh panel query. */
export async function playDashboards(backend: PluginBackend, datasourceUid: string, dashboards = loadDashboards()): Promise<DashboardReport> {
  const ctx: Context = { backend, datasourceUid, dashboards };
  const variablesOf = (uid: string) => dashboards.find((x) => x.uid === uid)?.variables.map((v) => v.name);
  const report: DashboardReport = { runs: [], problems: [], targets: {}, scenarios: {} };
  for (const d of dashboards) {
    const at = (panel: string, scenario?: Scenario) => `${d.file} / ${panel}${scenario ? ` [${scenario}]` : ''}`;
    for (const p of hiddenDashboardLinks(d.json)) report.problems.push(`${at('links')}: ${p}`);
    const panels = dataPanels(d.json);
    report.targets[d.file] = panels.reduce((n, p) => n + flowmeshTargets(p).length, 0);
    for (const panel of panels) {
      for (const link of panelLinks(panel)) {
        for (const p of checkDataLink(link.url, d.uid, variablesOf)) report.problems.push(`${at(String(panel.title))}: ${link.where} link ${link.url}: ${p}`);
      }
    }
    const range = dashboardRange(d.json);
    const seen = new Set<string>();
    for (const scenario of SCENARIOS) {
      const values = await resolveVariables(ctx, d, range, scenario);
      report.scenarios[scenario] ??= 0;
      for (const panel of panels) {
        for (const target of flowmeshTargets(panel)) {
          const key = JSON.stringify([panel.id, target.refId, [...values]]);
          if (seen.has(key)) continue; // the same variable values as an earlier scenario
          seen.add(key);
          const { run, problems } = await runPanel(ctx, d, panel, target, scenario, values, [], range, variablesOf);
          report.runs.push(run);
          report.scenarios[scenario] = (report.scenarios[scenario] ?? 0) + 1;
          const where = at(String(panel.title), scenario);
          report.problems.push(...problems.map((p) => `${where}: ${p}`));
          const frames = run.response.frames ?? [];
          if (problems.length === 0 && isEmpty(panel, frames)) {
            // Defaults and "All" show the whole mix, which gives every panel data; a chosen
            // value may select nothing, which is right only when no record matches.
            if (scenario !== 'value' || (await recordsMatch(ctx, run.query, range))) {
              report.problems.push(`${where}: empty answer where the traffic guarantees rows (query ${JSON.stringify(run.query)})`);
            }
          }
        }
      }
    }
  }
  return report;
}

/** Re-runs one panel with ad-hoc filters (what a data link that sets var-filters does). */
export async function rerunWithAdHoc(backend: PluginBackend, run: PanelRun, adHoc: AdHocFilter[], range: TimeRange): Promise<DataResponse> {
  const target = flowmeshTargets(run.panelJson)[0];
  const query = panelQuery(run.panelJson, target, run.values, adHoc, range);
  return (await backend.query([query], range))[String(query.refId)] ?? { error: 'no response' };
}

