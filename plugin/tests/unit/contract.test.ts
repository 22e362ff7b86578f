/**
 * The plugin's copies of the agent query vocabulary must equal the agent's own exports
 * (agent/src/model/query.ts, flow.ts), value for value and type for type.
 */
import * as agentFlow from '../../../agent/src/model/flow';
import * as agentQuery from '../../../agent/src/model/query';
import { FIELD_GROUPS, operatorsFor } from '../../src/filters';
import * as plugin from '../../src/types';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// Compile-time: `npm run typecheck` fails if any pair differs.
const typesAgree: [
  Same<plugin.Dimension, agentQuery.Dimension>,
  Same<plugin.Metric, agentQuery.Metric>,
  Same<plugin.TcpFlagName, agentFlow.TcpFlagName>,
] = [true, true, true];

describe('agent contract copies', () => {
  it.each([
    ['DIMENSIONS', plugin.DIMENSIONS, agentQuery.DIMENSIONS],
    ['EITHER_SIDE_FIELDS', plugin.EITHER_SIDE_FIELDS, agentQuery.EITHER_SIDE_FIELDS],
    ['NUMERIC_FIELDS', plugin.NUMERIC_FIELDS, agentQuery.NUMERIC_FIELDS],
    ['FLAG_FIELDS', plugin.FLAG_FIELDS, agentQuery.FLAG_FIELDS],
    ['METRICS', plugin.METRICS, agentQuery.METRICS],
    ['TCP_FLAG_NAMES', plugin.TCP_FLAG_NAMES, agentFlow.TCP_FLAG_NAMES],
    ['CONN_STATES', plugin.CONN_STATES, agentFlow.CONN_STATES],
  ])('%s equals the agent export', (_name, mine, theirs) => {
    expect([...mine]).toEqual([...theirs]);
  });

  it('the filter builder offers exactly the field/operator pairs the agent schema accepts', () => {
    // The agent's Filter type is loose (typebox literals cast to never), so compare the schema itself.
    const literals = (schema: { const?: unknown; anyOf?: Array<{ const: unknown }> }) =>
      (schema.anyOf ?? [schema]).map((s) => String(s.const));
    const agentPairs = new Set<string>();
    for (const branch of agentQuery.FilterSchema.anyOf) {
      const props = branch.properties as Record<string, { const?: unknown; anyOf?: Array<{ const: unknown }> }>;
      for (const field of literals(props.field)) {
        literals(props.op).forEach((op) => agentPairs.add(`${field}:${op}`));
      }
    }
    const builderPairs = new Set<string>();
    for (const { fields } of FIELD_GROUPS) {
      for (const field of fields) {
        operatorsFor(field).forEach((op) => builderPairs.add(`${field}:${op}`));
      }
    }
    builderPairs.add('text:contains'); // the query's Text box, not a builder row
    expect([...builderPairs].sort()).toEqual([...agentPairs].sort());
    expect(typesAgree.every(Boolean)).toBe(true);
  });
});
