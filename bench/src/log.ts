/**
 * Progress and diagnostics: readable lines on a terminal, structured JSON (pino) otherwise,
 * always on stderr so stdout carries only the result table.
 */
import pino from 'pino';

const tty = Boolean(process.stderr.isTTY);
const json = tty ? null : pino({ name: 'flowmesh-bench', base: { name: 'flowmesh-bench' } }, pino.destination(2));
const started = Date.now();

function stamp(): string {
  const s = Math.round((Date.now() - started) / 1000);
  return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
}

export const log = {
  step(message: string, data: Record<string, unknown> = {}): void {
    if (json) json.info(data, message);
    else process.stderr.write(`${stamp()} ${message}${Object.keys(data).length ? ' ' + compact(data) : ''}\n`);
  },
  warn(message: string, data: Record<string, unknown> = {}): void {
    if (json) json.warn(data, message);
    else process.stderr.write(`${stamp()} WARNING: ${message}${Object.keys(data).length ? ' ' + compact(data) : ''}\n`);
  },
};

function compact(data: Record<string, unknown>): string {
  return Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

function fmt(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en') : n.toPrecision(4);
}
