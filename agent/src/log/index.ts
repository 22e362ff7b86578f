/**
 * Logging: pino, JSON lines on stderr when stderr is not a terminal (for journald, Docker,
 * log shippers), short human-readable lines when it is. stdout stays free for data
 * (`--jsonl -`).
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** Renders pino's JSON lines as `HH:MM:SS LEVEL [name] message key=value ...` for terminals. */
function terminalStream(out: NodeJS.WriteStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const o = JSON.parse(line) as Record<string, unknown>;
          const time = new Date(Number(o.time)).toISOString().slice(11, 19);
          const extra = Object.entries(o)
            .filter(([k]) => !HIDDEN.has(k))
            .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
            .join(' ');
          const name = o.name ? `[${String(o.name)}] ` : '';
          out.write(`${time} ${LEVEL_NAMES[Number(o.level)] ?? o.level} ${name}${String(o.msg ?? '')}${extra ? ' ' + extra : ''}\n`);
        } catch {
          out.write(line + '\n');
        }
      }
      done();
    },
  });
}

export function createLogger(level: LogLevel = 'info', options: { name?: string; terminal?: boolean } = {}): Logger {
  const terminal = options.terminal ?? Boolean(process.stderr.isTTY);
  const base = { level, ...(options.name ? { name: options.name } : {}) };
  return terminal ? pino(base, terminalStream(process.stderr)) : pino(base, pino.destination({ dest: 2, sync: true }));
}
