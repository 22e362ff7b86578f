/**
 * Grafana-managed alert rules as provisioned (provisioning/grafana/alerting/*.yaml), evaluated
 * the way Grafana's alerting does it, without a Grafana server: the rule's data-source queries
 * go to the plugin backend in one request (with the FromAlert header, each with its own
 * relative time range), each query's frames are read as server-side expressions read them
 * (../grafana/expressions.ts: refused shapes and repeated label sets fail the rule), then
 * the expressions run in order. Implemented: the expression types the Flowmesh rules use —
 * reduce (sum, mean, last, min, max, count; mode dropNN or strict), math ($A refs, numbers,
 * + - * / %, comparisons, && || !, parentheses; series joined by labels like Grafana's union)
 * and threshold (gt, lt, within_range, outside_range). A rule fires for each label set whose
 * condition value is non-zero.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { expressionInput } from '../grafana/expressions';
import type { DataResponse, TimeRange } from './plugin-backend';

export const EXPRESSION_DATASOURCE = '__expr__';

export interface RuleQuery {
  refId: string;
  datasourceUid: string;
  relativeTimeRange?: { from: number; to: number };
  model: Record<string, unknown> & { refId: string };
}

export interface AlertRule {
  uid: string;
  title: string;
  condition: string;
  data: RuleQuery[];
}

/** Every rule of a provisioning file, by uid. */
export function loadAlertRules(file: string): Map<string, AlertRule> {
  const doc = parse(readFileSync(file, 'utf8')) as { groups?: { rules?: AlertRule[] }[] };
  const rules = new Map<string, AlertRule>();
  for (const group of doc.groups ?? []) for (const rule of group.rules ?? []) rules.set(rule.uid, rule);
  return rules;
}

type Labels = Record<string, string>;
/** One number per label set (what reduce, math and threshold produce). */
export interface LabeledNumber {
  labels: Labels;
  value: number | null;
}
type SeriesSet = { kind: 'series'; series: { labels: Labels; values: (number | null)[] }[] };
type NumberSet = { kind: 'numbers'; items: LabeledNumber[] };
type Result = SeriesSet | NumberSet;

/** Runs the rule's data queries (one QueryData call, as Grafana does). */
export type RunQueries = (queries: object[], range: TimeRange, headers: Record<string, string>) => Promise<Record<string, DataResponse>>;

export interface RuleEvaluation {
  /** Every expression's numbers by refId (for messages and assertions). */
  numbers: Map<string, LabeledNumber[]>;
  /** Label sets whose condition is non-zero. */
  firing: Labels[];
}

/** Evaluates `rule` at `nowMs` with `dataSourceUid`'s queries sent through `run`. */
export async function evaluateRule(rule: AlertRule, dataSourceUid: string, run: RunQueries, nowMs = Date.now()): Promise<RuleEvaluation> {
  const queries = rule.data.filter((d) => d.datasourceUid === dataSourceUid);
  const others = rule.data.filter((d) => d.datasourceUid !== dataSourceUid && d.datasourceUid !== EXPRESSION_DATASOURCE);
  if (others.length > 0) throw new Error(`rule ${rule.uid}: data source ${others[0].datasourceUid} not supported here`);
  const models = queries.map((q) => {
    const range = q.relativeTimeRange ?? { from: 600, to: 0 };
    return { ...q.model, refId: q.refId, timeRange: { from: nowMs - range.from * 1000, to: nowMs - range.to * 1000 } };
  });
  const responses = await run(models, { from: nowMs - 600_000, to: nowMs }, { FromAlert: 'true' });
  const results = new Map<string, Result>();
  for (const q of queries) {
    const response = responses[q.refId];
    if (!response || response.error) throw new Error(`rule ${rule.uid} query ${q.refId} failed: ${response?.error ?? 'no response'}`);
    const input = expressionInput(response.frames ?? [], `${rule.uid} ${q.refId}`);
    results.set(q.refId, input.kind === 'nodata' ? { kind: 'series', series: [] } : input);
  }
  for (const d of rule.data.filter((x) => x.datasourceUid === EXPRESSION_DATASOURCE)) {
    results.set(d.refId, expression(d.model, results, rule.uid));
  }
  const numbers = new Map<string, LabeledNumber[]>();
  for (const [refId, result] of results) if (result.kind === 'numbers') numbers.set(refId, result.items);
  const condition = results.get(rule.condition);
  if (!condition || condition.kind !== 'numbers') throw new Error(`rule ${rule.uid}: condition ${rule.condition} is not a number set`);
  return { numbers, firing: condition.items.filter((i) => i.value !== null && i.value !== 0).map((i) => i.labels) };
}

function expression(model: Record<string, unknown>, results: Map<string, Result>, rule: string): NumberSet {
  const input = (ref: unknown): Result => {
    const found = results.get(String(ref).replace(/^\$/, ''));
    if (!found) throw new Error(`rule ${rule}: ${String(model.refId)} refers to unknown ${String(ref)}`);
    return found;
  };
  switch (model.type) {
    case 'reduce':
      return reduce(input(model.expression), String(model.reducer), (model.settings as { mode?: string } | undefined)?.mode ?? '');
    case 'math':
      return math(String(model.expression), input);
    case 'threshold': {
      const evaluator = (model.conditions as { evaluator: { type: string; params: number[] } }[])[0].evaluator;
      return threshold(asNumbers(input(model.expression)), evaluator.type, evaluator.params);
    }
    default:
      throw new Error(`rule ${rule}: expression type ${String(model.type)} not implemented in the test evaluator`);
  }
}

const REDUCERS: Record<string, (v: number[]) => number | null> = {
  sum: (v) => v.reduce((a, b) => a + b, 0),
  mean: (v) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : null),
  last: (v) => (v.length ? v[v.length - 1] : null),
  min: (v) => (v.length ? Math.min(...v) : null),
  max: (v) => (v.length ? Math.max(...v) : null),
  count: (v) => v.length,
};

function reduce(input: Result, reducer: string, mode: string): NumberSet {
  const fn = REDUCERS[reducer];
  if (!fn) throw new Error(`reducer ${reducer} not implemented in the test evaluator`);
  if (input.kind === 'numbers') return input;
  return {
    kind: 'numbers',
    items: input.series.map((s) => {
      const numeric = s.values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      // strict (Grafana's default mode): any null / NaN makes the result NaN.
      const value = mode === 'dropNN' || numeric.length === s.values.length ? fn(numeric) : null;
      return { labels: s.labels, value };
    }),
  };
}

function threshold(input: NumberSet, type: string, params: number[]): NumberSet {
  const test: Record<string, (v: number) => boolean> = {
    gt: (v) => v > params[0],
    lt: (v) => v < params[0],
    within_range: (v) => v > params[0] && v < params[1],
    outside_range: (v) => v < params[0] || v > params[1],
  };
  const fn = test[type];
  if (!fn) throw new Error(`threshold evaluator ${type} not implemented in the test evaluator`);
  return { kind: 'numbers', items: input.items.map((i) => ({ labels: i.labels, value: i.value === null ? null : Number(fn(i.value)) })) };
}

function asNumbers(r: Result): NumberSet {
  if (r.kind === 'numbers') return r;
  throw new Error('math and threshold here take reduced numbers, not time series');
}

// ---- math: a small precedence-climbing parser over number sets ----

type Node =
  | { op: 'num'; value: number }
  | { op: 'ref'; name: string }
  | { op: 'unary'; fn: string; arg: Node }
  | { op: 'binary'; fn: string; left: Node; right: Node };

const TOKEN = /\s*(\$\{[A-Za-z0-9_]+\}|\$[A-Za-z0-9_]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|&&|\|\||[<>!=]=|[-+*/%()<>!])/y;
const PRECEDENCE: Record<string, number> = { '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 4, '>': 4, '<=': 4, '>=': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6 };

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new Error(`math expression "${text}": cannot read at offset ${at}`);
    tokens.push(m[1]);
  }
  return tokens;
}

function parseMath(text: string): Node {
  const tokens = tokenize(text);
  let pos = 0;
  const primary = (): Node => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error(`math expression "${text}" ends early`);
    if (t === '(') {
      const inner = binary(0);
      if (tokens[pos++] !== ')') throw new Error(`math expression "${text}": missing )`);
      return inner;
    }
    if (t === '-' || t === '!') return { op: 'unary', fn: t, arg: primary() };
    if (t.startsWith('$')) return { op: 'ref', name: t.replace(/^\$\{?|\}$/g, '') };
    if (/^\d/.test(t)) return { op: 'num', value: Number(t) };
    throw new Error(`math expression "${text}": unexpected ${t}`);
  };
  const binary = (minPrecedence: number): Node => {
    let left = primary();
    while (pos < tokens.length && (PRECEDENCE[tokens[pos]] ?? -1) > minPrecedence) {
      const fn = tokens[pos++];
      left = { op: 'binary', fn, left, right: binary(PRECEDENCE[fn]) };
    }
    return left;
  };
  const tree = binary(0);
  if (pos !== tokens.length) throw new Error(`math expression "${text}": unexpected ${tokens[pos]}`);
  return tree;
}

const BINARY: Record<string, (a: number, b: number) => number> = {
  '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': (a, b) => a / b, '%': (a, b) => a % b,
  '<': (a, b) => Number(a < b), '>': (a, b) => Number(a > b), '<=': (a, b) => Number(a <= b), '>=': (a, b) => Number(a >= b),
  '==': (a, b) => Number(a === b), '!=': (a, b) => Number(a !== b),
  '&&': (a, b) => Number(a !== 0 && b !== 0), '||': (a, b) => Number(a !== 0 || b !== 0),
};

/** Labels a ⊆ b or b ⊆ a: Grafana joins two number sets on such pairs (a scalar joins everything). */
function joinable(a: Labels, b: Labels): boolean {
  const sub = (x: Labels, y: Labels) => Object.entries(x).every(([k, v]) => y[k] === v);
  return sub(a, b) || sub(b, a);
}

function math(text: string, input: (ref: string) => Result): NumberSet {
  const evaluate = (node: Node): LabeledNumber[] => {
    switch (node.op) {
      case 'num':
        return [{ labels: {}, value: node.value }];
      case 'ref':
        return asNumbers(input(node.name)).items;
      case 'unary':
        return evaluate(node.arg).map((i) => ({ labels: i.labels, value: i.value === null ? null : node.fn === '-' ? -i.value : Number(i.value === 0) }));
      case 'binary': {
        const fn = BINARY[node.fn];
        const out: LabeledNumber[] = [];
        for (const a of evaluate(node.left)) {
          for (const b of evaluate(node.right)) {
            if (!joinable(a.labels, b.labels)) continue;
            const value = a.value === null || b.value === null ? null : fn(a.value, b.value);
            out.push({ labels: { ...a.labels, ...b.labels }, value });
          }
        }
        return out;
      }
    }
  };
  return { kind: 'numbers', items: evaluate(parseMath(text)) };
}
