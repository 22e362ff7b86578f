/**
 * Query connections and admission: at most `maxConcurrent` queries run, each on its own
 * DuckDB connection (never the store's writer), at most `maxQueued` wait; beyond that a
 * query is refused at once (BusyError -> HTTP 429) rather than piling up. Every query has a
 * deadline that really stops DuckDB (connection.interrupt()), also while it is still queued.
 *
 * Connections come from a DatabaseSource (the flow store), whose database can be replaced
 * while the agent runs (reopened after DuckDB invalidated it, or a damaged file moved
 * aside): before that, the pool closes its idle connections, interrupts running queries and
 * closes their connections as they finish, and tells the source when none is left.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { BusyError, QueryCancelledError, QueryTimeoutError } from './errors';

export interface Lease {
  connection: DuckDBConnection;
}

/** Where queries connect (agent/src/store FlowStore implements it). */
export interface DatabaseSource {
  /** The database now; throws (StoreUnavailableError, HTTP 503) while there is none. */
  database(): DuckDBInstance;
  /**
   * Registers `release`, called before the database is closed and replaced; it resolves once
   * no connection to it is open. Returns the function that unregisters it.
   */
  onReplace(release: () => Promise<void>): () => void;
  /**
   * Errors queries met: the source decides whether they mean its database must be repaired,
   * and may return the error the query fails with instead (one that says so).
   */
  reportError?(error: unknown): Error | undefined;
}

/** A database that never changes (tests, the bench, tools). */
function fixedSource(instance: DuckDBInstance): DatabaseSource {
  return { database: () => instance, onReplace: () => () => undefined };
}

interface Waiter {
  grant: (connection: DuckDBConnection) => void;
  reject: (error: Error) => void;
}

export class ConnectionPool {
  private readonly source: DatabaseSource;
  private readonly idle: DuckDBConnection[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly busy = new Set<DuckDBConnection>();
  /** Busy connections to a database being replaced: closed when their query ends. */
  private readonly retiring = new Set<DuckDBConnection>();
  private retired: (() => void) | null = null;
  private readonly unregister: () => void;
  private running = 0;
  private closed = false;

  constructor(
    source: DuckDBInstance | DatabaseSource,
    private readonly maxConcurrent: number,
    private readonly maxQueued: number,
  ) {
    this.source = source instanceof DuckDBInstance ? fixedSource(source) : source;
    this.unregister = this.source.onReplace(() => this.releaseDatabase());
  }

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
        throw stopReason ?? this.source.reportError?.(error) ?? error;
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
    this.unregister();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('query engine closed'));
    for (const connection of this.idle.splice(0)) connection.closeSync();
  }

  /** The source replaces its database: no connection to it may stay open (see the header). */
  private releaseDatabase(): Promise<void> {
    for (const connection of this.idle.splice(0)) connection.closeSync();
    for (const connection of this.busy) {
      this.retiring.add(connection);
      connection.interrupt();
    }
    if (this.retiring.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.retired = resolve));
  }

  private async acquire(register: (waiter: Waiter) => void): Promise<DuckDBConnection> {
    if (this.closed) throw new Error('query engine closed');
    if (this.running < this.maxConcurrent) {
      this.running++;
      const connection = this.idle.pop() ?? (await this.connect().catch((error: unknown) => {
        this.running--;
        throw error;
      }));
      this.busy.add(connection);
      return connection;
    }
    return new Promise<DuckDBConnection>((grant, reject) => {
      const waiter: Waiter = { grant, reject };
      this.waiters.push(waiter);
      register(waiter);
    });
  }

  private async connect(): Promise<DuckDBConnection> {
    return this.source.database().connect();
  }

  private release(connection: DuckDBConnection): void {
    this.busy.delete(connection);
    if (this.retiring.delete(connection)) {
      connection.closeSync();
      if (this.retiring.size === 0) {
        this.retired?.();
        this.retired = null;
      }
      this.running--;
      this.admitWaiting();
      return;
    }
    const next = this.waiters.shift();
    if (next && !this.closed) {
      this.busy.add(connection);
      next.grant(connection); // the slot passes straight to the next query
      return;
    }
    this.running--;
    if (this.closed) connection.closeSync();
    else this.idle.push(connection);
  }

  /** A slot freed without a connection to hand on: the next waiter gets a fresh one. */
  private admitWaiting(): void {
    const next = this.waiters.shift();
    if (!next || this.closed) return;
    this.running++;
    this.connect().then(
      (connection) => {
        this.busy.add(connection);
        next.grant(connection);
      },
      (error: Error) => {
        this.running--;
        next.reject(error);
      },
    );
  }
}
