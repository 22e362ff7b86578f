/**
 * Grafana's dashboard variables as the browser resolves them (Grafana 12, scenes): each
 * variable's options and value, and TemplateSrv.replace with its formats, so a panel query
 * reaches the data source's applyTemplateVariables exactly as Grafana hands it over. Pure:
 * the options of query variables come from the caller (the data source's values resource).
 *
 * Rules followed (public/app/features/templating, @grafana/scenes):
 *  - `$var`, `${var}`, `${var:format}` and `[[var]]` are replaced; unknown names stay as typed;
 *  - a multi-value variable passes its array to a format function; without a format it is
 *    glob-formatted (`{a,b}`, a single value bare), `csv` joins with commas, `pipe` with `|`;
 *  - "All" without a custom all value stands for every option's value;
 *  - a variable whose saved value is missing or not among its options takes its first option
 *    (after sorting), as an array for multi-value variables.
 */

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A variable's value: one string, or the selection of a multi-value variable. */
export type VariableValue = string | string[];

export const ALL_VALUE = '$__all';

export interface AdHocFilter {
  key: string;
  operator: string;
  value: string;
  values?: string[];
}

/** Grafana's variable reference syntax (public/app/features/variables/utils.ts variableRegex). */
export const VARIABLE_PATTERN = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

/** Names of the variables a text refers to (`$x`, `${x}`, `${x:csv}`, `[[x]]`), macros (`__x`) included. */
export function referencedVariables(text: string): string[] {
  return [...text.matchAll(VARIABLE_PATTERN)].map((m) => m[1] ?? m[2] ?? m[4]);
}

type Format = string | ((value: unknown, variable: unknown) => string) | undefined;

function formatValue(value: VariableValue, format: Format, name: string): string {
  if (typeof format === 'function') return format(value, { name });
  const list = Array.isArray(value) ? value : [value];
  switch (format) {
    case 'csv':
    case 'raw':
      return list.join(',');
    case 'pipe':
      return list.join('|');
    case 'queryparam':
      return list.map((v) => `var-${name}=${encodeURIComponent(v)}`).join('&');
    case undefined:
    case 'glob':
      return list.length === 1 ? list[0] : `{${list.join(',')}}`;
    default:
      throw new Error(`variable format "${format}" is not emulated here (used on $${name})`);
  }
}

/** TemplateSrv.replace over fixed variable values (the subset of TemplateSrv the plugin calls). */
export class TemplateSrv {
  constructor(private readonly values: ReadonlyMap<string, VariableValue>) {}

  replace(target?: string, scopedVars?: Record<string, { value: unknown }>, format?: Format): string {
    return (target ?? '').replace(VARIABLE_PATTERN, (match, a, b, bracketFormat, c, _fieldPath, braceFormat) => {
      const name = (a ?? b ?? c) as string;
      const scoped = scopedVars?.[name]?.value;
      const value = scoped !== undefined ? (scoped as VariableValue) : this.values.get(name);
      if (value === undefined) return match;
      return formatValue(value, (braceFormat as string | undefined) ?? (bracketFormat as string | undefined) ?? format, name);
    });
  }
}

/** One template variable of a dashboard, as its JSON model stores it. */
export interface Variable {
  name: string;
  type: string;
  multi: boolean;
  includeAll: boolean;
  /** Saved current value (absent: Grafana picks the first option). */
  current?: VariableValue;
  sort: number;
  model: Json;
}

export function dashboardVariables(dashboard: Json): Variable[] {
  return ((dashboard.templating?.list ?? []) as Json[]).map((v) => ({
    name: String(v.name),
    type: String(v.type),
    multi: Boolean(v.multi),
    includeAll: Boolean(v.includeAll),
    current: v.current?.value as VariableValue | undefined,
    sort: Number(v.sort ?? 0),
    model: v,
  }));
}

/** Options in the variable's sort order (0 none, 1/2 alphabetical, 3/4 numerical, 5/6 case-insensitive; even = descending). */
export function sortOptions(options: string[], sort: number): string[] {
  if (sort === 0) return options;
  const compare: Record<number, (a: string, b: string) => number> = {
    1: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    3: (a, b) => Number(a) - Number(b),
    5: (a, b) => a.toLowerCase().localeCompare(b.toLowerCase()),
  };
  const base = compare[sort % 2 === 0 ? sort - 1 : sort];
  if (!base) throw new Error(`variable sort ${sort} is not emulated here`);
  const sorted = [...options].sort(base);
  return sort % 2 === 0 ? sorted.reverse() : sorted;
}

/** The options of a custom variable ("a,b,c" or "label : value" pairs). */
export function customOptions(variable: Variable): string[] {
  return String(variable.model.query ?? '')
    .split(/(?<!\\),/)
    .map((o) => o.trim())
    .filter((o) => o !== '')
    .map((o) => (o.includes(' : ') ? o.split(' : ')[1] : o));
}

/** What the variable holds when the dashboard opens: its saved value if valid, else the first option. */
export function defaultValue(variable: Variable, options: string[]): VariableValue {
  const saved = variable.current;
  if (saved !== undefined) {
    const list = Array.isArray(saved) ? saved : [saved];
    if (list.length === 1 && list[0] === ALL_VALUE && variable.includeAll) return allValue(variable, options);
    if (list.length > 0 && list.every((v) => options.includes(v))) return variable.multi ? list : list[0];
  }
  if (options.length === 0) return variable.multi ? [] : '';
  return variable.multi ? [options[0]] : options[0];
}

/** "All": the variable's custom all value, else every option's value. */
export function allValue(variable: Variable, options: string[]): VariableValue {
  const custom = variable.model.allValue as string | undefined;
  return custom ? custom : options;
}
