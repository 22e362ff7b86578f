/**
 * Query validation with messages a person can act on. The Query and Filter schemas are
 * unions, and a validator run over a union reports every branch's complaint at once
 * ("must have required property 'group_by'", "must be equal to constant"...). So we
 * discriminate first (query on `kind`, filter on `op` then `field`), then validate against
 * the one schema that applies, and report its first error with the field's path
 * (e.g. `filters/0/op`). Semantic checks (from < to, CIDR syntax, cursor) are the query
 * engine's (QueryInputError).
 */
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { Type, type TSchema } from '@sinclair/typebox';
import {
  FilterSchema, FlowsQuerySchema, SummaryQuerySchema, TimeseriesQuerySchema, TopQuerySchema, ValuesQuerySchema,
  type Query,
} from '../model/query';

/** Bad client input; `field` is the path of the offending value ('' when it is the whole body). */
export class InputError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

const ajv = new Ajv({ allErrors: false, strict: false, verbose: true });

const KIND_SCHEMAS = {
  flows: FlowsQuerySchema,
  top: TopQuerySchema,
  timeseries: TimeseriesQuerySchema,
  summary: SummaryQuerySchema,
  values: ValuesQuerySchema,
} as const;
export const QUERY_KINDS = Object.keys(KIND_SCHEMAS) as (keyof typeof KIND_SCHEMAS)[];

/** Each kind's schema with filters left to the filter validator below. */
const kindValidators = new Map<string, ValidateFunction>(
  Object.entries(KIND_SCHEMAS).map(([kind, schema]) => [
    kind,
    ajv.compile(
      Type.Object(
        { ...schema.properties, filters: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 100 })) },
        { additionalProperties: false },
      ),
    ),
  ]),
);

interface FilterVariant {
  ops: string[];
  fields: string[];
  validate: ValidateFunction;
}

function literals(schema: TSchema): string[] {
  if (schema.const !== undefined) return [String(schema.const)];
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).flatMap(literals);
  if (Array.isArray(schema.enum)) return schema.enum.map(String);
  return [];
}

const filterVariants: FilterVariant[] = (FilterSchema.anyOf as TSchema[]).map((variant) => ({
  ops: literals(variant.properties.op),
  fields: literals(variant.properties.field),
  validate: ajv.compile(variant),
}));
const ALL_OPS = [...new Set(filterVariants.flatMap((v) => v.ops))];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const describe = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** Validates a request body as a Query; throws InputError naming the field. */
export function parseQuery(body: unknown): Query {
  if (!isObject(body)) throw new InputError('', 'request body must be a JSON object (a Query)');
  const kind = body.kind;
  if (kind === undefined) throw new InputError('kind', `kind is required: one of ${QUERY_KINDS.join(', ')}`);
  const validate = typeof kind === 'string' ? kindValidators.get(kind) : undefined;
  if (!validate) throw new InputError('kind', `kind must be one of ${QUERY_KINDS.join(', ')} (got ${describe(kind)})`);
  if (!validate(body)) throw fromAjv(validate.errors ?? [], '');
  const filters = (body.filters ?? []) as unknown[];
  filters.forEach((filter, index) => validateFilter(filter, `filters/${index}`));
  return body as Query;
}

function validateFilter(filter: unknown, path: string): void {
  if (!isObject(filter)) throw new InputError(path, `${path} must be an object like {"field", "op", ...}`);
  const { op, field } = filter;
  if (typeof op !== 'string' || !ALL_OPS.includes(op)) {
    throw new InputError(`${path}/op`, `${path}/op must be one of ${ALL_OPS.join(', ')} (got ${describe(op)})`);
  }
  const byOp = filterVariants.filter((v) => v.ops.includes(op));
  const allowedFields = [...new Set(byOp.flatMap((v) => v.fields))];
  const variant = byOp.find((v) => typeof field === 'string' && v.fields.includes(field));
  if (!variant) {
    throw new InputError(
      `${path}/field`,
      `${path}/field ${describe(field)} cannot be used with op '${op}'; allowed: ${allowedFields.join(', ')}`,
    );
  }
  if (!variant.validate(filter)) throw fromAjv(variant.validate.errors ?? [], path);
}

/** Turns ajv's first error into an InputError; union (anyOf) failures list the allowed values. */
function fromAjv(errors: ErrorObject[], base: string): InputError {
  const first = errors[0];
  if (!first) return new InputError(base, 'invalid query');
  // For a failed anyOf, ajv reports each branch first and the anyOf itself last: report the anyOf.
  const union = errors.find((e) => e.keyword === 'anyOf' && e.instancePath === first.instancePath);
  const error = union ?? first;
  const segments = [base, error.instancePath.replace(/^\//, '')].filter(Boolean);
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') segments.push(String(params.missingProperty));
  if (error.keyword === 'additionalProperties') segments.push(String(params.additionalProperty));
  const field = segments.join('/');
  const name = field || 'query';
  switch (error.keyword) {
    case 'required':
      return new InputError(field, `${name} is required`);
    case 'additionalProperties':
      return new InputError(field, `${name} is not a known property here`);
    case 'anyOf': {
      const branches = error.schema as TSchema[];
      const allowed = literals({ anyOf: branches } as unknown as TSchema);
      const types = [...new Set(branches.map((b) => String(b.type ?? 'value')))];
      const detail = allowed.length > 0 ? `must be one of ${allowed.join(', ')}` : `must be a ${types.join(' or ')}`;
      return new InputError(field, `${name} ${detail} (got ${describe(error.data)})`);
    }
    default:
      return new InputError(field, `${name} ${error.message ?? 'is invalid'} (got ${describe(error.data)})`);
  }
}
