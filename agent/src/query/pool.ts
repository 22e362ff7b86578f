/**
 * Query connections and admission: at most `maxConcurrent` queries run, each on its own
 * DuckDB connection (never the store's writer), at most `maxQueued` wait; beyond that a
 * query is refused at once (BusyError -> HTTP 429) rather than piling up. Every query has a
 * deadline that really stops DuckDB (connection.interrupt()), also while it is still queued.
 */
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { BusyError, QueryCancelledError, QueryTimeoutError } from './errors';

export interface Lease {
  connection: DuckDBConnection;
}

interface Waiter {
  grant: (connection: DuckDBConnection) => void;
  reject: (error: Error) => void;
}

export class ConnectionPool {
  private readonly idle: DuckDBConnection[] = [];
  private readonly waiters: Waiter[] = [];
  private running = 0;
  private closed = false;

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
  ) {}

  get load(): { running: number; queued: number } {
    return { running: this.running, queued: this.waiters.length };
  }

  /**
   * Runs `work` with a connection, interrupting it when `timeoutMs` passes or `signal` aborts.
   * The deadline covers waiting in the queue too.
   */
  async withConnection<T>(
    timeoutMs: number,
    signal: AbortSignal | undefined,
    work: (connection: DuckDBConnection) => Promise<T>,
  ): Promise<T> {
    if (signal?.aborted) throw new QueryCancelledError();
    if (this.running >= this.maxConcurrent && this.waiters.length >= this.maxQueued) {
      throw new BusyError(this.running, this.waiters.length);
    }
    let connection: DuckDBConnection | null = null;
    let stopReason: Error | null = null;
    let waiter: Waiter | null = null;
    const stop = (reason: Error) => {
      if (stopReason) return;
      stopReason = reason;
      if (connection) connection.interrupt();
      else if (waiter) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.reject(reason);
      }
    };
    const timer = setTimeout(() => stop(new QueryTimeoutError(timeoutMs)), timeoutMs);
    const onAbort = () => stop(new QueryCancelledError());
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      connection = await this.acquire((w) => (waiter = w));
      if (stopReason) throw stopReason;
      let result: T;
      try {
        result = await work(connection);
      } catch (error) {
        throw stopReason ?? error;
      }
      // interrupt() between two statements of `work` does not fail it: the deadline still decides.
      if (stopReason) throw stopReason;
      return result;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (connection) this.release(connection);
    }
  }

  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('query engine closed'));
    for (const connection of this.idle.splice(0)) connection.closeSync();
  }

  private async acquire(register: (waiter: Waiter) => void): Promise<DuckDBConnection> {
    if (this.closed) throw new Error('query engine closed');
    if (this.running < this.maxConcurrent) {
      this.running++;
      const idle = this.idle.pop();
      if (idle) return idle;
      try {
        return await this.instance.connect();
      } catch (error) {
        this.running--;
        throw error;
      }
    }
    return new Promise<DuckDBConnection>((grant, reject) => {
      const waiter: Waiter = { grant, reject };
      this.waiters.push(waiter);
      register(waiter);
    });
  }

  private release(connection: DuckDBConnection): void {
    const next = this.waiters.shift();
    if (next && !this.closed) {
      next.grant(connection); // the slot passes straight to the next query
      return;
    }
    this.running--;
    if (this.closed) connection.closeSync();
    else this.idle.push(connection);
  }
}
