/**
 * Panel query editor: query type, the controls that type uses, agents, filters (with
 * troubleshooting presets) and free text. Discrete choices run the query at once; typed
 * text runs it when the input loses focus.
 */
import React, { useEffect, useMemo, useState } from 'react';
import { QueryEditorProps } from '@grafana/data';
import {
  Combobox,
  ComboboxOption,
  InlineField,
  InlineFieldRow,
  InlineSwitch,
  MultiCombobox,
  RadioButtonGroup,
  Stack,
} from '@grafana/ui';

import { DataSource } from '../datasource';
import { suggestionDimensions } from '../filters';
import {
  DIMENSIONS,
  DedupeMode,
  Dimension,
  Filter,
  FlowmeshOptions,
  FlowmeshQuery,
  METRICS,
  METRIC_DESCRIPTIONS,
  Metric,
  QUERY_TYPES,
  QUERY_TYPE_LABELS,
  QueryType,
  TYPE_DEFAULTS,
} from '../types';
import { IntegerInput, TextCommit } from './CommitInputs';
import { FilterBuilder } from './FilterBuilder';

type Props = QueryEditorProps<DataSource, FlowmeshQuery, FlowmeshOptions>;

const LABEL_WIDTH = 14;
const TYPE_OPTIONS = QUERY_TYPES.map((t) => ({ label: QUERY_TYPE_LABELS[t], value: t }));
const DIMENSION_OPTIONS: Array<ComboboxOption<string>> = DIMENSIONS.map((d) => ({ label: d, value: d }));
const METRIC_OPTIONS: Array<ComboboxOption<string>> = METRICS.map((m) => ({
  label: m,
  value: m,
  description: METRIC_DESCRIPTIONS[m],
}));
const DEDUPE_OPTIONS: Array<{ label: string; value: DedupeMode; description: string }> = [
  { label: 'Default', value: 'default', description: "The data source's setting" },
  { label: 'None', value: 'none', description: 'Every agent report counts' },
  { label: 'Connection', value: 'connection', description: 'A connection seen by several agents counts once' },
];
const ORDER_OPTIONS = [
  { label: 'Newest first', value: 'newest' as const },
  { label: 'Oldest first', value: 'oldest' as const },
];
const TOPOLOGY_OPTIONS = [
  { label: 'IP address', value: 'ip' as const },
  { label: 'Name', value: 'name' as const },
];

export function QueryEditor({ query, onChange, onRunQuery, datasource, range }: Props) {
  const queryType: QueryType = query.queryType ?? 'timeseries';
  const update = (patch: Partial<FlowmeshQuery>, run = true) => {
    onChange({ ...query, ...patch });
    if (run) {
      onRunQuery();
    }
  };

  const agentOptions = useAgentOptions(datasource);
  const suggest = useMemo(
    () => async (field: string, prefix: string) => {
      const timeRange = range ? { from: range.from.valueOf(), to: range.to.valueOf() } : {};
      const answers = await Promise.all(
        suggestionDimensions(field).map((dimension) =>
          datasource.fetchValues({ dimension, prefix, agents: query.agents, ...timeRange }).catch(() => [])
        )
      );
      return Array.from(new Set(answers.flat().map((v) => String(v.value))));
    },
    [datasource, range, query.agents]
  );

  const switchType = (next: QueryType) => {
    const defaults = Object.fromEntries(
      Object.entries(TYPE_DEFAULTS[next]).filter(([key]) => query[key as keyof FlowmeshQuery] === undefined)
    );
    update({ ...defaults, queryType: next });
  };

  return (
    <Stack direction="column" gap={1}>
      <InlineFieldRow>
        <InlineField label="Query type" labelWidth={LABEL_WIDTH}>
          <RadioButtonGroup options={TYPE_OPTIONS} value={queryType} onChange={switchType} />
        </InlineField>
      </InlineFieldRow>

      <InlineFieldRow>
        {queryType === 'top' && (
          <InlineField label="Group by" labelWidth={LABEL_WIDTH} tooltip="Up to 4 dimensions">
            <MultiCombobox
              id="flowmesh-group-by"
              width="auto"
              minWidth={44}
              maxWidth={80}
              options={DIMENSION_OPTIONS}
              value={query.groupBy ?? []}
              onChange={(opts) => update({ groupBy: opts.map((o) => o.value as Dimension).slice(0, 4) })}
            />
          </InlineField>
        )}
        {queryType !== 'flows' && (
          <InlineField
            label="Metric"
            labelWidth={LABEL_WIDTH}
            tooltip={queryType === 'summary' ? 'The one number an alert rule gets (panels show every total)' : undefined}
          >
            <Combobox
              id="flowmesh-metric"
              width={16}
              options={METRIC_OPTIONS}
              value={query.metric ?? 'bytes'}
              onChange={(o) => update({ metric: o.value as Metric })}
            />
          </InlineField>
        )}
        {queryType === 'timeseries' && (
          <>
            <InlineField label="Split by" labelWidth={LABEL_WIDTH} tooltip="One series per value combination (up to 3)">
              <MultiCombobox
                id="flowmesh-split-by"
                width="auto"
                minWidth={36}
                maxWidth={80}
                options={DIMENSION_OPTIONS}
                value={query.splitBy ?? []}
                onChange={(opts) => update({ splitBy: opts.map((o) => o.value as Dimension).slice(0, 3) })}
              />
            </InlineField>
            <InlineField label="Series" tooltip="Largest series kept; the rest sum into 'other' (0 = all)">
              <IntegerInput
                id="flowmesh-split-limit"
                value={query.splitLimit}
                min={0}
                max={100000}
                onCommit={(splitLimit) => update({ splitLimit })}
              />
            </InlineField>
          </>
        )}
        {queryType === 'top' && (
          <InlineField label="Top N" tooltip="Groups shown; the rest sum into 'other' (0 = all)">
            <IntegerInput
              id="flowmesh-limit"
              value={query.limit}
              min={0}
              max={100000}
              onCommit={(limit) => update({ limit })}
            />
          </InlineField>
        )}
        {queryType === 'flows' && (
          <>
            <InlineField label="Rows" labelWidth={LABEL_WIDTH} tooltip="Page size, at most 10000">
              <IntegerInput
                id="flowmesh-limit"
                value={query.limit}
                min={1}
                max={10000}
                onCommit={(limit) => update({ limit })}
              />
            </InlineField>
            <InlineField label="Order">
              <RadioButtonGroup
                options={ORDER_OPTIONS}
                value={query.order ?? 'newest'}
                onChange={(order) => update({ order })}
              />
            </InlineField>
          </>
        )}
        {queryType === 'topology' && (
          <>
            <InlineField label="Nodes by" labelWidth={LABEL_WIDTH}>
              <RadioButtonGroup
                options={TOPOLOGY_OPTIONS}
                value={query.topologyBy ?? 'ip'}
                onChange={(topologyBy) => update({ topologyBy })}
              />
            </InlineField>
            <InlineField label="Edges" tooltip="Largest edges shown">
              <IntegerInput
                id="flowmesh-limit"
                value={query.limit}
                min={1}
                max={100000}
                onCommit={(limit) => update({ limit })}
              />
            </InlineField>
          </>
        )}
        <InlineField label="Dedupe" labelWidth={queryType === 'summary' ? LABEL_WIDTH : undefined}>
          <RadioButtonGroup
            options={DEDUPE_OPTIONS}
            value={query.dedupe ?? 'default'}
            onChange={(dedupe) => update({ dedupe })}
          />
        </InlineField>
        <InlineField
          label="Open flows"
          tooltip="Also show connections still open on the agents (seconds old, not yet recorded), counted once when their records land"
        >
          <InlineSwitch
            id="flowmesh-include-open"
            value={query.includeOpen ?? false}
            onChange={(e) => update({ includeOpen: e.currentTarget.checked || undefined })}
          />
        </InlineField>
      </InlineFieldRow>

      <InlineFieldRow>
        <InlineField label="Agents" labelWidth={LABEL_WIDTH} tooltip="None selected = all agents">
          <MultiCombobox
            id="flowmesh-agents"
            width="auto"
            minWidth={30}
            placeholder="All agents"
            createCustomValue
            options={agentOptions}
            value={(query.agents ?? []).map((a) => ({ label: a, value: a }))}
            onChange={(opts) => update({ agents: opts.map((o) => o.value) })}
          />
        </InlineField>
        <InlineField label="Text" tooltip="Case-insensitive substring of names, domains or addresses">
          <TextCommit
            id="flowmesh-text"
            placeholder="e.g. example.com"
            value={query.text ?? ''}
            onCommit={(text) => update({ text: text || undefined })}
          />
        </InlineField>
      </InlineFieldRow>

      <InlineFieldRow>
        <InlineField label="Filters" labelWidth={LABEL_WIDTH} grow>
          <FilterBuilder
            filters={query.filters ?? []}
            suggest={suggest}
            onChange={(filters: Filter[], run) => update({ filters }, run)}
          />
        </InlineField>
      </InlineFieldRow>
    </Stack>
  );
}

/** Agent names from the backend (GET resources/agents), with their health as a description. */
function useAgentOptions(datasource: DataSource): Array<ComboboxOption<string>> {
  const [options, setOptions] = useState<Array<ComboboxOption<string>>>([]);
  useEffect(() => {
    let live = true;
    datasource
      .fetchAgents()
      .then((agents) => {
        if (live) {
          setOptions(agents.map((a) => ({ label: a.name, value: a.name, description: a.ok ? a.url : a.message })));
        }
      })
      .catch(() => live && setOptions([]));
    return () => {
      live = false;
    };
  }, [datasource]);
  return options;
}
