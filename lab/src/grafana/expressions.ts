/**
 * How Grafana's server-side expressions read a data source's frames before reduce, math and
 * threshold run (pkg/expr/converter.go, the dataplane readers of grafana/dataplane, and the
 * alerting result check in pkg/services/ngalert/eval), emulated on the frames the plugin
 * returns in Grafana's JSON shape:
 *  - no frames: no data;
 *  - typed frames (meta.type with a non-zero typeVersion) take the dataplane path:
 *    timeseries-multi = one series per frame (a time field and the first numeric field; a
 *    repeated name + labels is an error), numeric-wide = one number per numeric field;
 *  - otherwise one frame with no fields is no data, one frame that is not a time series with
 *    exactly one numeric field and only string fields besides is a number set (the strings
 *    become labels), and every other frame must be a wide time series (time + numbers only:
 *    a string field makes it "long", which alerting refuses);
 *  - the label sets of a result must be unique, or the rule fails with "frame cannot
 *    uniquely be identified by its labels".
 * Refusals throw with Grafana's wording.
 */
import type { FrameJson } from '../e2e/plugin-backend';

export type Labels = Record<string, string>;
export interface SeriesValue {
  labels: Labels;
  times: number[];
  values: (number | null)[];
}
export interface NumberValue {
  labels: Labels;
  value: number | null;
}
export type ExpressionInput =
  | { kind: 'nodata' }
  | { kind: 'series'; series: SeriesValue[] }
  | { kind: 'numbers'; items: NumberValue[] };

/** Grafana's Labels.String(): sorted `k=v` pairs. */
export const labelString = (labels: Labels): string =>
  `{${Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(', ')}}`;

const isNumeric = (type: string) => type === 'number';
const column = (frame: FrameJson, i: number) => frame.data.values[i] ?? [];

function typed(frame: FrameJson): boolean {
  const meta = frame.schema.meta;
  return Boolean(meta?.type) && (meta?.typeVersion ?? [0, 0]).some((v) => v !== 0);
}

function unique<T extends { labels: Labels }>(items: T[], refId: string): T[] {
  const seen = new Set<string>();
  for (const item of items) {
    const key = labelString(item.labels);
    if (seen.has(key)) throw new Error(`[${refId}] frame cannot uniquely be identified by its labels: has duplicate results with labels ${key}`);
    seen.add(key);
  }
  return items;
}

function seriesOf(frame: FrameJson, timeIndex: number, valueIndex: number): SeriesValue {
  const field = frame.schema.fields[valueIndex];
  return {
    labels: field.labels ?? {},
    times: column(frame, timeIndex) as number[],
    values: column(frame, valueIndex) as (number | null)[],
  };
}

function dataplane(frames: FrameJson[], refId: string): ExpressionInput {
  const type = frames[0].schema.meta?.type;
  switch (type) {
    case 'timeseries-multi': {
      if (frames[0].schema.fields.length === 0) return { kind: 'nodata' };
      const series = frames.flatMap((frame, i) => {
        if (!typed(frame) || frame.schema.meta?.type !== type) return []; // ignored, as the reader does
        const fields = frame.schema.fields;
        const timeIndex = fields.findIndex((f) => f.type === 'time');
        const valueIndex = fields.findIndex((f) => isNumeric(f.type));
        if (timeIndex < 0) throw new Error(`[${refId}] frame ${i} is missing a []time.Time field`);
        if (valueIndex < 0) throw new Error(`[${refId}] frame ${i} must have at least one value field but has 0`);
        const times = column(frame, timeIndex) as number[];
        if (times.some((t, j) => j > 0 && t < times[j - 1])) throw new Error(`[${refId}] frame ${i} has an unsorted time field`);
        return [{ name: fields[valueIndex].name, value: seriesOf(frame, timeIndex, valueIndex) }];
      });
      const names = new Set<string>();
      for (const s of series) {
        const key = `${s.name} ${labelString(s.value.labels)}`;
        if (names.has(key)) throw new Error(`[${refId}] duplicate metrics found for metric name "${s.name}" and labels ${labelString(s.value.labels)}`);
        names.add(key);
      }
      return { kind: 'series', series: unique(series.map((s) => s.value), refId) };
    }
    case 'numeric-wide': {
      const frame = frames[0];
      const items = frame.schema.fields.flatMap((f, i) =>
        isNumeric(f.type) ? [{ labels: f.labels ?? {}, value: (column(frame, i)[0] as number | null | undefined) ?? null }] : [],
      );
      if (items.length === 0) return { kind: 'nodata' };
      return { kind: 'numbers', items: unique(items, refId) };
    }
    default:
      throw new Error(`[${refId}] frame type ${String(type)} is not emulated here`);
  }
}

/** A frame's time-series shape as the SDK's TimeSeriesSchema names it. */
function timeSeriesType(frame: FrameJson): 'wide' | 'long' | 'not' {
  const types = frame.schema.fields.map((f) => f.type);
  if (!types.includes('time') || !types.some(isNumeric)) return 'not';
  return types.every((t) => t === 'time' || isNumeric(t)) ? 'wide' : 'long';
}

/** The value server-side expressions make of one query's frames (throws where Grafana refuses them). */
export function expressionInput(frames: FrameJson[], refId: string): ExpressionInput {
  if (frames.length === 0) return { kind: 'nodata' };
  if (typed(frames[0])) return dataplane(frames, refId);
  if (frames.length === 1) {
    const frame = frames[0];
    if (frame.schema.fields.length === 0) return { kind: 'nodata' };
    const numeric = frame.schema.fields.filter((f) => isNumeric(f.type)).length;
    const strings = frame.schema.fields.filter((f) => f.type === 'string').length;
    if (timeSeriesType(frame) === 'not' && numeric === 1 && numeric + strings === frame.schema.fields.length) {
      const valueIndex = frame.schema.fields.findIndex((f) => isNumeric(f.type));
      const rows = column(frame, valueIndex).length;
      const items = Array.from({ length: rows }, (_, row): NumberValue => {
        const labels: Labels = {};
        frame.schema.fields.forEach((f, i) => {
          if (f.type === 'string') labels[f.name] = String(column(frame, i)[row] ?? '');
        });
        return { labels, value: (column(frame, valueIndex)[row] as number | null) ?? null };
      });
      return { kind: 'numbers', items: unique(items, refId) };
    }
  }
  const series: SeriesValue[] = [];
  for (const frame of frames) {
    const type = timeSeriesType(frame);
    if (type !== 'wide') throw new Error(`[${refId}] input data must be a wide series but got type ${type}`);
    const timeIndex = frame.schema.fields.findIndex((f) => f.type === 'time');
    frame.schema.fields.forEach((f, i) => {
      if (isNumeric(f.type)) series.push(seriesOf(frame, timeIndex, i));
    });
  }
  return { kind: 'series', series: unique(series, refId) };
}
