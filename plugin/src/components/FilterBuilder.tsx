/**
 * Edits the query's agent filters, one row per filter: field, operator (those the field's kind
 * allows), and a value input shaped by the operator. Values of dimensions are suggested from
 * the agents through `suggest`; any typed value (or ${variable}) is accepted too.
 */
import React from 'react';
import { Button, Combobox, ComboboxOption, MultiCombobox, Stack, Text } from '@grafana/ui';

import {
  FIELD_DESCRIPTIONS,
  FIELD_GROUPS,
  FilterField,
  OP_LABELS,
  PRESETS,
  applyPreset,
  fieldKind,
  filterForField,
  filterProblem,
  isFlag,
  operatorsFor,
  scalarFor,
  suggestionDimensions,
  withOperator,
} from '../filters';
import { Filter, FilterOp, TCP_FLAG_NAMES } from '../types';
import { TextCommit } from './CommitInputs';

export type Suggest = (field: string, prefix: string) => Promise<string[]>;

interface Props {
  filters: Filter[];
  /** `run`: whether the change is final enough to run the query now. */
  onChange: (filters: Filter[], run: boolean) => void;
  suggest: Suggest;
}

const FIELD_OPTIONS: Array<ComboboxOption<string>> = FIELD_GROUPS.flatMap(({ label, fields }) =>
  fields.map((field) => ({ label: field, value: field, group: label, description: FIELD_DESCRIPTIONS[field] }))
);
/** Selected values as options, so they show even before (or without) suggestions loading. */
const asOption = (v: string | number): ComboboxOption<string> => ({ label: String(v), value: String(v) });

const FLAG_OPTIONS: Array<ComboboxOption<string>> = TCP_FLAG_NAMES.map((f) => ({ label: f, value: f }));

export function FilterBuilder({ filters, onChange, suggest }: Props) {
  const replace = (index: number, next: Filter, run = true) =>
    onChange(
      filters.map((f, i) => (i === index ? next : f)),
      run
    );
  return (
    <Stack direction="column" gap={1}>
      {filters.map((filter, i) => (
        <FilterRow
          key={i}
          index={i}
          filter={filter}
          suggest={suggest}
          onChange={(next, run) => replace(i, next, run)}
          onRemove={() =>
            onChange(
              filters.filter((_, j) => j !== i),
              true
            )
          }
        />
      ))}
      <Stack gap={1} wrap="wrap" alignItems="center">
        <Button
          variant="secondary"
          size="sm"
          icon="plus"
          onClick={() => onChange([...filters, filterForField('ip')], false)}
        >
          Add filter
        </Button>
        <Text color="secondary" variant="bodySmall">
          Presets:
        </Text>
        {PRESETS.map((preset) => (
          <Button
            key={preset.id}
            variant="secondary"
            fill="outline"
            size="sm"
            tooltip={preset.description}
            onClick={() => onChange(applyPreset(filters, preset.filter), true)}
          >
            {preset.label}
          </Button>
        ))}
      </Stack>
    </Stack>
  );
}

interface RowProps {
  index: number;
  filter: Filter;
  suggest: Suggest;
  onChange: (next: Filter, run: boolean) => void;
  onRemove: () => void;
}

function FilterRow({ index, filter, suggest, onChange, onRemove }: RowProps) {
  const problem = filterProblem(filter);
  const opOptions = operatorsFor(filter.field).map((op) => ({ label: OP_LABELS[op], value: op }));
  return (
    <Stack gap={1} alignItems="center" data-testid={`filter-row-${index}`}>
      <Combobox
        id={`filter-${index}-field`}
        width={22}
        options={FIELD_OPTIONS}
        value={filter.field}
        onChange={(o) => onChange(filterForField(o.value as FilterField, filter), false)}
      />
      <Combobox<FilterOp>
        id={`filter-${index}-op`}
        width={16}
        options={opOptions}
        value={filter.op}
        onChange={(o) => onChange(withOperator(filter, o.value), false)}
      />
      <ValueInput index={index} filter={filter} suggest={suggest} onChange={onChange} />
      <Button variant="secondary" size="sm" icon="times" aria-label={`Remove filter ${index + 1}`} onClick={onRemove} />
      {problem && (
        <Text color="warning" variant="bodySmall">
          {problem}
        </Text>
      )}
    </Stack>
  );
}

function ValueInput({ index, filter, suggest, onChange }: Omit<RowProps, 'onRemove'>) {
  const id = `filter-${index}-value`;
  const canSuggest = suggestionDimensions(filter.field).length > 0;
  const loadOptions = async (prefix: string): Promise<Array<ComboboxOption<string>>> => {
    const values = canSuggest ? await suggest(filter.field, prefix) : [];
    return values.map((v) => ({ label: v, value: v }));
  };

  switch (filter.op) {
    case 'eq':
    case 'neq':
      if (fieldKind(filter.field) === 'numeric') {
        return (
          <NumberText
            id={id}
            value={filter.value}
            onCommit={(value) => onChange({ ...filter, value } as Filter, true)}
          />
        );
      }
      return (
        <Combobox
          id={id}
          width={30}
          createCustomValue
          placeholder="value or $variable"
          options={loadOptions}
          value={filter.value === '' ? null : asOption(filter.value)}
          onChange={(o) => onChange({ ...filter, value: scalarFor(filter.field, String(o.value)) } as Filter, true)}
        />
      );
    case 'in':
    case 'nin':
      return (
        <MultiCombobox
          id={id}
          width="auto"
          minWidth={30}
          maxWidth={100}
          createCustomValue
          placeholder="values or $variable"
          options={loadOptions}
          value={filter.values.map(asOption)}
          onChange={(opts) =>
            onChange({ ...filter, values: opts.map((o) => scalarFor(filter.field, String(o.value))) }, true)
          }
        />
      );
    case 'cidr':
    case 'not_cidr':
      return (
        <TextCommit
          id={id}
          placeholder="10.0.0.0/8 or fd00::/8"
          value={filter.value}
          onCommit={(value) => onChange({ ...filter, value }, true)}
        />
      );
    case 'range':
      return (
        <Stack gap={0.5} alignItems="center">
          <PortInput id={`${id}-min`} value={filter.min} onCommit={(min) => onChange({ ...filter, min }, true)} />
          <Text variant="bodySmall">to</Text>
          <PortInput id={`${id}-max`} value={filter.max} onCommit={(max) => onChange({ ...filter, max }, true)} />
        </Stack>
      );
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      return (
        <NumberText id={id} value={filter.value} onCommit={(value) => onChange({ ...filter, value } as Filter, true)} />
      );
    case 'has_all':
    case 'has_any':
    case 'has_none':
      return (
        <MultiCombobox
          id={id}
          width="auto"
          minWidth={40}
          maxWidth={80}
          options={FLAG_OPTIONS}
          value={filter.flags}
          onChange={(opts) => onChange({ ...filter, flags: opts.map((o) => o.value).filter(isFlag) }, true)}
        />
      );
    case 'contains':
      return <TextCommit id={id} value={filter.value} onCommit={(value) => onChange({ ...filter, value }, true)} />;
  }
}

/** Numbers, or a $variable that resolves to one (kept as text until interpolation). */
function NumberText(props: { id: string; value: unknown; onCommit: (value: number | string) => void }) {
  const shown =
    typeof props.value === 'number'
      ? Number.isFinite(props.value)
        ? String(props.value)
        : ''
      : String(props.value ?? '');
  return (
    <TextCommit
      id={props.id}
      value={shown}
      placeholder="number or $variable"
      onCommit={(text) => props.onCommit(text !== '' && Number.isFinite(Number(text)) ? Number(text) : text)}
    />
  );
}

function PortInput(props: { id: string; value: number; onCommit: (value: number) => void }) {
  return (
    <TextCommit
      id={props.id}
      value={Number.isFinite(props.value) ? String(props.value) : ''}
      placeholder="port"
      onCommit={(text) => props.onCommit(text === '' ? Number.NaN : Number(text))}
    />
  );
}
