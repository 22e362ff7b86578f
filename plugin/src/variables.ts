/**
 * Dashboard variables and ad-hoc filters applied to a panel query before it leaves the
 * browser. The Go backend interpolates too (alert rules never run this code); this side
 * exists so multi-value variables and ad-hoc filters become exact agent filters.
 */
import { AdHocVariableFilter, ScopedVars } from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';

import { INTEGER_DIMENSIONS, isComplete, scalarFor } from './filters';
import { DIMENSIONS, EITHER_SIDE_FIELDS, Filter, FlowmeshQuery, NUMERIC_FIELDS } from './types';

/** Most values a filter may hold (the agent's FilterSchema maxItems). */
export const MAX_FILTER_VALUES = 10000;

type Replace = Pick<TemplateSrv, 'replace'>;

/**
 * Every value `text` stands for: one string normally, several when it holds multi-value
 * variables (each combination, capped at MAX_FILTER_VALUES).
 */
export function expandText(text: string, scopedVars: ScopedVars, templateSrv: Replace): string[] {
  const choices: string[][] = [];
  const marked = templateSrv.replace(text, scopedVars, (value: unknown) => {
    const list = Array.isArray(value) ? value.map(String) : [String(value ?? '')];
    choices.push(list);
    return `\u0000${choices.length - 1}\u0000`;
  });
  let results = [''];
  marked.split('\u0000').forEach((piece, i) => {
    if (i % 2 === 0) {
      results = results.map((r) => r + piece);
    } else {
      const list = choices[Number(piece)] ?? [''];
      results = results.flatMap((r) => list.map((v) => r + v)).slice(0, MAX_FILTER_VALUES);
    }
  });
  return unique(results);
}

const unique = <T>(list: T[]) => Array.from(new Set(list));

function expandScalar(field: string, value: string | number, scopedVars: ScopedVars, srv: Replace) {
  if (typeof value !== 'string') {
    return [value];
  }
  return expandText(value, scopedVars, srv).map((v) => scalarFor(field, v));
}

/** One filter with its variables resolved; eq/neq become in/nin when a variable holds several values. */
export function interpolateFilter(filter: Filter, scopedVars: ScopedVars, srv: Replace): Filter {
  const isNumeric = (NUMERIC_FIELDS as readonly string[]).includes(filter.field);
  switch (filter.op) {
    case 'eq':
    case 'neq': {
      const values = expandScalar(filter.field, filter.value, scopedVars, srv);
      if (isNumeric) {
        return { ...filter, value: Number(values[0]) } as Filter;
      }
      if (values.length === 1) {
        return { ...filter, value: values[0] } as Filter;
      }
      return { field: filter.field, op: filter.op === 'eq' ? 'in' : 'nin', values } as Filter;
    }
    case 'in':
    case 'nin': {
      const values = unique(filter.values.flatMap((v) => expandScalar(filter.field, v, scopedVars, srv)));
      return { ...filter, values: values.slice(0, MAX_FILTER_VALUES) };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte': {
      const raw: unknown = filter.value;
      const value = typeof raw === 'string' ? Number(srv.replace(raw, scopedVars)) : filter.value;
      return { ...filter, value };
    }
    case 'cidr':
    case 'not_cidr':
    case 'contains':
      return { ...filter, value: srv.replace(filter.value, scopedVars).trim() } as Filter;
    default:
      return filter;
  }
}

const AD_HOC_FIELDS: readonly string[] = [...DIMENSIONS, ...EITHER_SIDE_FIELDS];

/**
 * Ad-hoc filters as agent filters. Keys the agents do not know, and operators other than
 * equality and one-of, are skipped: a dashboard's ad-hoc variable may also hold keys meant
 * for another data source.
 */
export function adHocToFilters(adHoc: AdHocVariableFilter[] = []): Filter[] {
  const out: Filter[] = [];
  for (const f of adHoc) {
    if (!AD_HOC_FIELDS.includes(f.key)) {
      continue;
    }
    const field = f.key as Filter['field'];
    const scalar = (v: string) => (INTEGER_DIMENSIONS.includes(field) ? scalarFor(field, v) : v);
    const many = f.values && f.values.length > 0 ? f.values : [f.value];
    switch (f.operator) {
      case '=':
        out.push({ field, op: 'eq', value: scalar(f.value) } as Filter);
        break;
      case '!=':
        out.push({ field, op: 'neq', value: scalar(f.value) } as Filter);
        break;
      case '=|':
        out.push({ field, op: 'in', values: many.map(scalar) } as Filter);
        break;
      case '!=|':
        out.push({ field, op: 'nin', values: many.map(scalar) } as Filter);
        break;
    }
  }
  return out;
}

const interpolateList = (list: string[] | undefined, scopedVars: ScopedVars, srv: Replace) =>
  list === undefined ? undefined : unique(list.flatMap((v) => expandText(v, scopedVars, srv)).filter((v) => v !== ''));

const interpolateOne = <T extends string>(v: T | undefined, scopedVars: ScopedVars, srv: Replace) =>
  v === undefined ? undefined : (srv.replace(v, scopedVars) as T);

/** The query as the backend should receive it. Incomplete filter rows are left out. */
export function interpolateQuery(
  query: FlowmeshQuery,
  scopedVars: ScopedVars,
  srv: Replace,
  adHoc?: AdHocVariableFilter[]
): FlowmeshQuery {
  const filters = (query.filters ?? []).filter(isComplete).map((f) => interpolateFilter(f, scopedVars, srv));
  const out: FlowmeshQuery = {
    ...query,
    filters: [...filters, ...adHocToFilters(adHoc)],
    agents: interpolateList(query.agents, scopedVars, srv),
    groupBy: interpolateList(query.groupBy, scopedVars, srv) as FlowmeshQuery['groupBy'],
    splitBy: interpolateList(query.splitBy, scopedVars, srv) as FlowmeshQuery['splitBy'],
    text: interpolateOne(query.text, scopedVars, srv),
    metric: interpolateOne(query.metric, scopedVars, srv),
  };
  for (const key of Object.keys(out) as Array<keyof FlowmeshQuery>) {
    if (out[key] === undefined) {
      delete out[key];
    }
  }
  return out;
}
