/**
 * The config editor's single-input settings: a labelled Field around one Input, with the
 * setting's problem (from src/settings.ts) shown as the Field's error. One place for the
 * markup, so every setting shows its problem the same way.
 */
import React, { ChangeEvent } from 'react';
import { Field, Input } from '@grafana/ui';

interface OptionProps {
  /** Omitted for an input in a row of inputs under one label (a pinned certificate's cells). */
  label?: string;
  /** The input's accessible name; the label when omitted. */
  ariaLabel?: string;
  description?: string;
  /** Why the value is refused, or undefined when it is fine. */
  problem: string | undefined;
  placeholder?: string;
}

interface TextOptionProps extends OptionProps {
  width: number;
  value: string;
  onChange: (value: string) => void;
}

/** One text setting; onChange gets the text as typed. */
export function TextOption({ label, ariaLabel, description, problem, width, placeholder, value, onChange }: TextOptionProps) {
  return (
    <Field label={label} description={description} invalid={Boolean(problem)} error={problem}>
      <Input
        aria-label={ariaLabel ?? label}
        width={width}
        placeholder={placeholder}
        value={value}
        onChange={(e) => onChange(e.currentTarget.value)}
      />
    </Field>
  );
}

interface NumberOptionProps extends OptionProps {
  label: string;
  ariaLabel: string;
  description: string;
  placeholder: string;
  value: number | undefined;
  onChange: (e: ChangeEvent<HTMLInputElement>) => void;
}

/** One optional numeric setting: empty means the default shown as the placeholder. */
export function NumberOption({ label, ariaLabel, description, problem, placeholder, value, onChange }: NumberOptionProps) {
  return (
    <Field label={label} description={description} invalid={Boolean(problem)} error={problem}>
      <Input
        aria-label={ariaLabel}
        type="number"
        width={16}
        placeholder={placeholder}
        value={value ?? ''}
        onChange={onChange}
      />
    </Field>
  );
}
