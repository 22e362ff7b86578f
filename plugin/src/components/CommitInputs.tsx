/**
 * Inputs that report a value only when the user is done with it (blur or Enter), so typing
 * does not run a query per keystroke.
 */
import React, { useState } from 'react';
import { Input } from '@grafana/ui';

/** Local text being edited, reset whenever the committed value changes from outside. */
function useDraft(committed: string): [string, (text: string) => void] {
  const [draft, setDraft] = useState(committed);
  const [seen, setSeen] = useState(committed);
  if (committed !== seen) {
    setSeen(committed);
    setDraft(committed);
  }
  return [draft, setDraft];
}

interface TextCommitProps {
  id: string;
  value: string;
  placeholder?: string;
  width?: number;
  onCommit: (value: string) => void;
}

export function TextCommit({ id, value, placeholder, width = 30, onCommit }: TextCommitProps) {
  const [text, setText] = useDraft(value);
  const commit = () => text.trim() !== value && onCommit(text.trim());
  return (
    <Input
      id={id}
      width={width}
      value={text}
      placeholder={placeholder}
      onChange={(e) => setText(e.currentTarget.value)}
      onBlur={commit}
      onKeyDown={(e) => e.key === 'Enter' && commit()}
    />
  );
}

interface IntegerInputProps {
  id: string;
  value?: number;
  min: number;
  max: number;
  onCommit: (value: number | undefined) => void;
}

/** A whole number within [min, max]; empty means "use the default". Out-of-range text is flagged, not sent. */
export function IntegerInput({ id, value, min, max, onCommit }: IntegerInputProps) {
  const shown = value === undefined || value === null ? '' : String(value);
  const [text, setText] = useDraft(shown);
  const parsed = text === '' ? undefined : Number(text);
  const invalid = parsed !== undefined && !(Number.isInteger(parsed) && parsed >= min && parsed <= max);
  const commit = () => !invalid && parsed !== value && onCommit(parsed);
  return (
    <Input
      id={id}
      type="number"
      width={10}
      min={min}
      max={max}
      invalid={invalid}
      title={`${min}-${max}`}
      value={text}
      onChange={(e) => setText(e.currentTarget.value)}
      onBlur={commit}
      onKeyDown={(e) => e.key === 'Enter' && commit()}
    />
  );
}
