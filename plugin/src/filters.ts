/**
 * The filter builder's model: which fields exist, which operators each field kind allows,
 * how an edited row becomes an agent Filter, and the troubleshooting presets. Pure
 * functions; the React builder (components/FilterBuilder.tsx) only renders this.
 */
import {
  ADDRESS_FIELDS,
  DIMENSIONS,
  Dimension,
  EITHER_SIDE_FIELDS,
  FLAG_FIELDS,
  Filter,
  FilterOp,
  NUMERIC_FIELDS,
  PORT_FIELDS,
  TCP_FLAG_NAMES,
  TcpFlagName,
} from './types';

export type FilterField = Filter['field'];
/** How a field's operators and value input behave. */
export type FieldKind = 'dimension' | 'address' | 'port' | 'numeric' | 'flags';

const includes = <T extends string>(list: readonly T[], value: string): value is T =>
  (list as readonly string[]).includes(value);

/** Dimensions whose values are integers on the wire; typed text is sent as a number. */
export const INTEGER_DIMENSIONS: readonly string[] = ['src_port', 'dst_port', 'port', 'ip_version'];

export function fieldKind(field: string): FieldKind {
  if (includes(ADDRESS_FIELDS, field)) {
    return 'address';
  }
  if (includes(PORT_FIELDS, field)) {
    return 'port';
  }
  if (includes(NUMERIC_FIELDS, field)) {
    return 'numeric';
  }
  if (includes(FLAG_FIELDS, field)) {
    return 'flags';
  }
  return 'dimension';
}

export const FIELD_GROUPS: Array<{ label: string; fields: readonly FilterField[] }> = [
  { label: 'Either side', fields: EITHER_SIDE_FIELDS },
  { label: 'Dimensions', fields: DIMENSIONS },
  { label: 'Counters and latency', fields: NUMERIC_FIELDS },
  { label: 'TCP flags', fields: FLAG_FIELDS },
];

export const FIELD_DESCRIPTIONS: Partial<Record<FilterField, string>> = {
  ip: 'source or destination address',
  port: 'source or destination port',
  name: 'source or destination name',
  type: 'source or destination type',
  bytes: 'bytes both ways, per record',
  tcp_flags: 'union of both sides',
  icmp_id: 'ICMP echo identifier',
  handshake_us: 'TCP handshake time, µs (records that carry one)',
  tcp_synack_us: 'SYN → SYN/ACK, µs',
  tcp_ack_us: 'SYN/ACK → ACK, µs',
  dns_rtt_us: 'DNS response time, µs',
};

const MEMBERSHIP: FilterOp[] = ['eq', 'neq', 'in', 'nin'];
const OPS_BY_KIND: Record<FieldKind, FilterOp[]> = {
  dimension: MEMBERSHIP,
  address: [...MEMBERSHIP, 'cidr', 'not_cidr'],
  port: [...MEMBERSHIP, 'range'],
  numeric: ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'],
  flags: ['has_all', 'has_any', 'has_none'],
};

export const OP_LABELS: Record<FilterOp, string> = {
  eq: '=',
  neq: '!=',
  in: 'in',
  nin: 'not in',
  cidr: 'in CIDR',
  not_cidr: 'not in CIDR',
  range: 'between',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  has_all: 'has all',
  has_any: 'has any',
  has_none: 'has none',
  contains: 'contains',
};

export function operatorsFor(field: string): FilterOp[] {
  return OPS_BY_KIND[fieldKind(field)];
}

/** Dimensions whose distinct values (resources/values) suggest values for `field`. */
export function suggestionDimensions(field: string): Dimension[] {
  if (includes(DIMENSIONS, field)) {
    return [field];
  }
  if (includes(EITHER_SIDE_FIELDS, field)) {
    return [`src_${field}`, `dst_${field}`] as Dimension[];
  }
  return [];
}

/** Typed text as the agent expects it: integers for integer dimensions, else the text itself. */
export function scalarFor(field: string, text: string): string | number {
  const trimmed = text.trim();
  if (INTEGER_DIMENSIONS.includes(field) && /^\d+$/.test(trimmed)) {
    return Number(trimmed);
  }
  return trimmed;
}

/** A new filter for `field`, keeping the previous operator/value where they still fit. */
export function filterForField(field: FilterField, previous?: Filter): Filter {
  const ops = operatorsFor(field);
  const op = previous && ops.includes(previous.op) ? previous.op : ops[0];
  const blank = { field, op: ops[0], value: '' } as Filter;
  const sameKind = previous !== undefined && fieldKind(previous.field) === fieldKind(field);
  return withOperator(blank, op, sameKind ? ({ ...previous, field } as Filter) : blank);
}

/** The same filter with another operator; values carry over between compatible shapes. */
export function withOperator(filter: Filter, op: FilterOp, previous: Filter = filter): Filter {
  const field = filter.field;
  const single = singleValueOf(previous);
  const list = valuesOf(previous);
  switch (op) {
    case 'in':
    case 'nin':
      return { field, op, values: list } as Filter;
    case 'range': {
      const port = typeof single === 'number' ? single : Number.NaN;
      const range = 'min' in previous ? previous : { min: port, max: port };
      return { field, op, min: range.min, max: range.max } as Filter;
    }
    case 'has_all':
    case 'has_any':
    case 'has_none':
      return { field, op, flags: 'flags' in previous ? previous.flags : [] } as Filter;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return { field, op, value: single ?? '' } as unknown as Filter;
    default:
      return { field, op, value: single ?? (list.length > 0 ? list[0] : '') } as Filter;
  }
}

function singleValueOf(filter: Filter): string | number | undefined {
  if ('value' in filter) {
    return filter.value;
  }
  if ('values' in filter && filter.values.length > 0) {
    return filter.values[0];
  }
  return undefined;
}

function valuesOf(filter: Filter): Array<string | number> {
  if ('values' in filter) {
    return filter.values;
  }
  if ('value' in filter && filter.value !== '') {
    return [filter.value];
  }
  return [];
}

/**
 * Why a filter cannot be sent yet (the builder shows it; datasource.ts drops such filters so
 * a half-edited row never turns a panel into an agent 400), or undefined when complete.
 */
export function filterProblem(filter: Filter): string | undefined {
  switch (filter.op) {
    case 'eq':
    case 'neq':
    case 'contains':
      if (typeof filter.value === 'string' && filter.value.trim() === '') {
        return 'enter a value';
      }
      if (fieldKind(filter.field) === 'numeric' && !isNumberOrVariable(filter.value)) {
        return 'enter a number';
      }
      return undefined;
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return isNumberOrVariable(filter.value) ? undefined : 'enter a number';
    case 'in':
    case 'nin':
      return filter.values.length === 0 ? 'pick at least one value' : undefined;
    case 'cidr':
    case 'not_cidr':
      return isPrefixOrVariable(filter.value) ? undefined : 'enter a prefix such as 10.0.0.0/8 or fd00::/8';
    case 'range':
      if (!isPort(filter.min) || !isPort(filter.max)) {
        return 'ports are 0-65535';
      }
      return filter.min > filter.max ? 'the first port must not exceed the second' : undefined;
    case 'has_all':
    case 'has_any':
    case 'has_none':
      return filter.flags.length === 0 ? 'pick at least one flag' : undefined;
  }
}

const VARIABLE = /\$(\w+|\{[^}]+\})|\[\[[^\]]+\]\]/;
const isVariable = (v: unknown) => typeof v === 'string' && VARIABLE.test(v);
const isNumberOrVariable = (v: unknown) =>
  (typeof v === 'number' && Number.isFinite(v)) || isVariable(v) || (typeof v === 'string' && isNumeric(v));
const isNumeric = (s: string) => s.trim() !== '' && Number.isFinite(Number(s));
const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;

const IPV4_PREFIX = /^(\d{1,3})(\.\d{1,3}){3}(\/\d{1,2})?$/;
const IPV6_PREFIX = /^[0-9a-f:.]*:[0-9a-f:.]*(\/\d{1,3})?$/i;
function isPrefixOrVariable(value: string): boolean {
  const v = value.trim();
  if (isVariable(v)) {
    return true;
  }
  if (IPV4_PREFIX.test(v)) {
    const [addr, bits] = v.split('/');
    return addr.split('.').every((o) => Number(o) <= 255) && (bits === undefined || Number(bits) <= 32);
  }
  if (IPV6_PREFIX.test(v)) {
    const bits = v.split('/')[1];
    return bits === undefined || Number(bits) <= 128;
  }
  return false;
}

export function isComplete(filter: Filter): boolean {
  return filterProblem(filter) === undefined;
}

export function isFlag(name: string): name is TcpFlagName {
  return includes(TCP_FLAG_NAMES, name);
}

/** Troubleshooting shortcuts (docs/CONTRACTS.md conn_state vocabulary is Zeek's). */
export const PRESETS: Array<{ id: string; label: string; description: string; filter: Filter }> = [
  {
    id: 'never-completed',
    label: 'Handshake never completed',
    description: 'SYN without any reply (conn_state S0): a firewall or route drops it',
    filter: { field: 'conn_state', op: 'in', values: ['S0'] },
  },
  {
    id: 'refused',
    label: 'Refused (SYN then RST)',
    description: 'The connection attempt was actively rejected (conn_state REJ)',
    filter: { field: 'conn_state', op: 'in', values: ['REJ'] },
  },
  {
    id: 'resets',
    label: 'Resets',
    description: 'Established, then aborted by a RST from either side (RSTO, RSTR)',
    filter: { field: 'conn_state', op: 'in', values: ['RSTO', 'RSTR'] },
  },
  {
    id: 'external',
    label: 'External destinations',
    description: 'Destination is a public address outside the inventory',
    filter: { field: 'dst_type', op: 'eq', value: 'external' },
  },
];

/** Adds a preset's filter unless an identical one is already there. */
export function applyPreset(filters: Filter[], preset: Filter): Filter[] {
  const key = JSON.stringify(preset);
  return filters.some((f) => JSON.stringify(f) === key) ? filters : [...filters, preset];
}
