/**
 * Query variable editor: the distinct values of one dimension, optionally only those starting
 * with a prefix and only from some agents. The preview shows what the variable will offer.
 */
import React, { useEffect, useState } from 'react';
import { QueryEditorProps } from '@grafana/data';
import { Combobox, ComboboxOption, InlineField, InlineFieldRow, MultiCombobox, Stack, Text } from '@grafana/ui';

import type { DataSource } from '../datasource';
import { DIMENSIONS, Dimension, FlowmeshOptions, FlowmeshQuery, FlowmeshVariableQuery } from '../types';
import { TextCommit } from './CommitInputs';

type Props = QueryEditorProps<DataSource, FlowmeshQuery, FlowmeshOptions, FlowmeshVariableQuery>;

const DIMENSION_OPTIONS: Array<ComboboxOption<string>> = DIMENSIONS.map((d) => ({ label: d, value: d }));

export function VariableQueryEditor({ query, onChange, datasource, range }: Props) {
  const [agents, setAgents] = useState<Array<ComboboxOption<string>>>([]);
  const [preview, setPreview] = useState<string>('');

  useEffect(() => {
    datasource
      .fetchAgents()
      .then((list) => setAgents(list.map((a) => ({ label: a.name, value: a.name }))))
      .catch(() => setAgents([]));
  }, [datasource]);

  useEffect(() => {
    let live = true;
    if (!query.dimension) {
      return;
    }
    datasource
      .variableValues(query, range)
      .then(
        (values) =>
          live && setPreview(values.length === 0 ? 'no values in the time range' : values.slice(0, 20).join(', '))
      )
      .catch((err: unknown) => live && setPreview(`error: ${describe(err)}`));
    return () => {
      live = false;
    };
  }, [datasource, query, range]);

  const update = (patch: Partial<FlowmeshVariableQuery>) => onChange({ ...query, ...patch });

  return (
    <Stack direction="column" gap={1}>
      <InlineFieldRow>
        <InlineField label="Dimension" labelWidth={14}>
          <Combobox
            id="flowmesh-variable-dimension"
            width={24}
            options={DIMENSION_OPTIONS}
            value={query.dimension ?? null}
            placeholder="choose a dimension"
            onChange={(o) => update({ dimension: o.value as Dimension })}
          />
        </InlineField>
        <InlineField label="Prefix" tooltip="Only values starting with this (case-insensitive); may hold $variables">
          <TextCommit
            id="flowmesh-variable-prefix"
            width={20}
            value={query.prefix ?? ''}
            onCommit={(prefix) => update({ prefix: prefix || undefined })}
          />
        </InlineField>
        <InlineField label="Agents" tooltip="None selected = all agents">
          <MultiCombobox
            id="flowmesh-variable-agents"
            width="auto"
            minWidth={24}
            placeholder="All agents"
            createCustomValue
            options={agents}
            value={(query.agents ?? []).map((a) => ({ label: a, value: a }))}
            onChange={(opts) => update({ agents: opts.map((o) => o.value) })}
          />
        </InlineField>
      </InlineFieldRow>
      {query.dimension && preview && (
        <Text color="secondary" variant="bodySmall" data-testid="variable-preview">
          Values: {preview}
        </Text>
      )}
    </Stack>
  );
}

function describe(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { data?: { message?: string }; message?: string; statusText?: string };
    return e.data?.message ?? e.message ?? e.statusText ?? 'request failed';
  }
  return String(err);
}
