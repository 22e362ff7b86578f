/**
 * JSON-lines sink: one FlowRecord per line, to a file or stdout (`-`). For inspection,
 * piping into other tools and tests; the DuckDB store is the production sink. Lines are
 * buffered and written in large chunks; flush() makes everything written so far durable
 * in the file (or handed to stdout).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { FlowRecord, FlowSink } from '../model/flow';

const CHUNK_BYTES = 1 << 20;

export class JsonLinesSink implements FlowSink {
  private readonly fd: number | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;
  private closed = false;
  records = 0;

  /** @param target file path (created or truncated), or `-` for stdout */
  constructor(readonly target: string) {
    this.fd = target === '-' ? undefined : openSync(target, 'w');
  }

  write(record: FlowRecord): void {
    if (this.closed) throw new Error(`JSON-lines sink ${this.target} is closed`);
    const line = JSON.stringify(record) + '\n';
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.records++;
    if (this.pendingBytes >= CHUNK_BYTES) this.writeOut();
  }

  private writeOut(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (this.fd !== undefined) writeSync(this.fd, text);
    else process.stdout.write(text);
  }

  async flush(): Promise<void> {
    this.writeOut();
    if (this.fd !== undefined) {
      try {
        fsyncSync(this.fd);
      } catch (err) {
        // /dev/null, pipes and the like cannot be synced; nothing is lost by skipping that
        if (!['EINVAL', 'ENOTSUP', 'EROFS'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      }
    }
    else if (process.stdout.writableNeedDrain) await new Promise((r) => process.stdout.once('drain', r));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

/** Writes every record to each sink (e.g. the store and a JSON-lines copy); status and waiting come from the sinks that have them. */
export function teeSink(...sinks: FlowSink[]): FlowSink {
  const reporting = sinks.find((s) => s.status);
  return {
    write: (r) => sinks.forEach((s) => s.write(r)),
    flush: async () => { await Promise.all(sinks.map((s) => s.flush())); },
    close: async () => { await Promise.all(sinks.map((s) => s.close())); },
    ...(reporting ? { status: () => reporting.status!() } : {}),
    settled: async (options) => { await Promise.all(sinks.map((s) => s.settled?.(options))); },
  };
}
