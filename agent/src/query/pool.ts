/**
 * Query connections and admission. At most `maxConcurrent` queries run, each on its own
 * DuckDB connection (never the store's writer); at most `maxQueued` wait for a slot. The
 * HTTP layer names each query's client (its address), and overload is shed so that the
 * slots keep doing useful work, fairly across clients:
 *
 * - a query waits for a slot rather than being refused while there is room in the queue: a
 *   client that retries a refusal at once (most do not honour Retry-After) would otherwise
 *   spend the CPU the running queries need; its waiting costs nothing;
 * - a freed slot goes to the waiting client with the fewest running queries, among equals
 *   the one served longest ago (round robin), so a client with 200 connections cannot starve
 *   one with a single query; within a client, its oldest query, unless that one has already
 *   spent half its deadline waiting: then its newest (adaptive LIFO). Under a standing queue,
 *   serving the oldest first would only serve queries about to time out, and slots would run
 *   work the deadline then interrupts; the newest has time to finish, and the old ones time
 *   out in the queue, where that costs nothing;
 * - when the queue is full, a client with fewer waiting queries than the busiest one takes
 *   the busiest one's newest place (that query is refused); otherwise the newcomer is refused
 *   (BusyError -> 429 with Retry-After). `refusal()` answers that without side effects, so
 *   the HTTP layer refuses before it reads and validates a request body;
 * - a query whose deadline passes while it waits is refused as overload (BusyError, not a
 *   timeout: it never ran), and one granted a slot with less of its deadline left than a
 *   query usually takes is refused instead of started, so no slot is spent on work that the
 *   deadline would interrupt.
 *
 * Every query has a deadline that really stops DuckDB (connection.interrupt()).
 *
 * Connections come from a DatabaseSource (the flow store), whose database can be replaced
 * while the agent runs (reopened after DuckDB invalidated it, or a damaged file moved
 * aside): before that, the pool closes its idle connections, interrupts running queries and
 * closes their connections as they finish, and tells the source when none is left.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { BusyError, QueryCancelledError, QueryTimeoutError } from './errors';

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
  client: string;
  /** performance.now() when it was admitted, and when its deadline passes. */
  admitted: number;
  deadline: number;
  grant: (connection: DuckDBConnection) => void;
  reject: (error: Error) => void;
}

/** Weight of the newest sample in the average time a query holds its connection. */
const SERVICE_SMOOTHING = 0.2;

type Verdict = { admit: 'run' | 'queue' } | { admit: 'displace'; victim: Waiter } | { refuse: BusyError };

export class ConnectionPool {
  private readonly source: DatabaseSource;
  private readonly idle: DuckDBConnection[] = [];
  /** Connections running a query. */
  private readonly busy = new Set<DuckDBConnection>();
  /** Busy connections to a database being replaced: closed when their query ends. */
  private readonly retiring = new Set<DuckDBConnection>();
  private retired: (() => void) | null = null;
  private readonly unregister: () => void;
  /** Waiters per client, oldest first. */
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly runningBy = new Map<string, number>();
  /** When each client with running or waiting queries was last given a slot (a sequence number). */
  private readonly servedAt = new Map<string, number>();
  private served = 0;
  private queued = 0;
  private running = 0;
  /** Smoothed time a query holds a connection (ms); null until one has finished. */
  private serviceMs: number | null = null;
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
    return { running: this.running, queued: this.queued };
  }

  /** Why a query of `client` would be refused now, or null when it would be admitted. */
  refusal(client: string): BusyError | null {
    const verdict = this.verdict(client);
    return 'refuse' in verdict ? verdict.refuse : null;
  }

  /**
   * Runs `work` with a connection, interrupting it when `timeoutMs` passes or `signal` aborts.
   * The deadline covers waiting in the queue too.
   */
  async withConnection<T>(
    client: string,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    work: (connection: DuckDBConnection) => Promise<T>,
  ): Promise<T> {
    if (signal?.aborted) throw new QueryCancelledError();
    if (this.closed) throw new Error('query engine closed');
    const verdict = this.verdict(client);
    if ('refuse' in verdict) throw verdict.refuse;
    if (verdict.admit === 'displace') {
      this.remove(verdict.victim);
      verdict.victim.reject(this.overload('a client with fewer waiting queries took its place in the full queue'));
    }
    const admitted = performance.now();
    let connection: DuckDBConnection | null = null;
    let stopReason: Error | null = null;
    let waiter: Waiter | null = null;
    const stop = (reason: Error) => {
      if (stopReason) return;
      stopReason = reason;
      if (connection) connection.interrupt();
      else if (waiter && this.remove(waiter)) waiter.reject(reason);
    };
    const timer = setTimeout(() => {
      const stillWaiting = waiter !== null && this.isWaiting(waiter);
      const waited = Math.round(performance.now() - admitted);
      stop(stillWaiting ? this.overload(`it waited ${waited} ms for a free slot, its whole deadline`) : new QueryTimeoutError(timeoutMs));
    }, timeoutMs);
    const onAbort = () => stop(new QueryCancelledError());
    signal?.addEventListener('abort', onAbort, { once: true });
    let started = 0;
    try {
      connection = await this.acquire(client, admitted, admitted + timeoutMs, (w) => (waiter = w));
      started = performance.now();
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
      if (connection) this.release(client, connection, performance.now() - started);
    }
  }

  close(): void {
    this.closed = true;
    this.unregister();
    for (const queue of this.waiting.values()) for (const waiter of queue) waiter.reject(new Error('query engine closed'));
    this.waiting.clear();
    this.queued = 0;
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

  private verdict(client: string): Verdict {
    if (this.running < this.maxConcurrent && this.queued === 0) return { admit: 'run' };
    if (this.queued < this.maxQueued) return { admit: 'queue' };
    const mine = this.waiting.get(client)?.length ?? 0;
    let busiest: Waiter[] | undefined;
    for (const queue of this.waiting.values()) if (!busiest || queue.length > busiest.length) busiest = queue;
    if (busiest && busiest.length > mine + 1) return { admit: 'displace', victim: busiest[busiest.length - 1]! };
    return { refuse: this.overload('the queue is full') };
  }

  /** An overload refusal; Retry-After is about how long the queue takes to drain now. */
  private overload(why: string): BusyError {
    const drainS = ((this.queued + 1) * (this.serviceMs ?? 0)) / this.maxConcurrent / 1000;
    return new BusyError(this.running, this.queued, Math.min(30, Math.max(1, Math.ceil(drainS))), why);
  }

  private async acquire(client: string, admitted: number, deadline: number, register: (waiter: Waiter) => void): Promise<DuckDBConnection> {
    if (this.running < this.maxConcurrent && this.queued === 0) {
      this.startRunning(client);
      const connection = this.idle.pop() ?? (await this.connect().catch((error: unknown) => {
        this.stopRunning(client);
        throw error;
      }));
      this.busy.add(connection);
      return connection;
    }
    return new Promise<DuckDBConnection>((grant, reject) => {
      const waiter: Waiter = { client, admitted, deadline, grant, reject };
      const queue = this.waiting.get(client);
      if (queue) queue.push(waiter);
      else this.waiting.set(client, [waiter]);
      this.queued++;
      register(waiter);
    });
  }

  private connect(): Promise<DuckDBConnection> {
    return this.source.database().connect();
  }

  private release(client: string, connection: DuckDBConnection, heldMs: number): void {
    this.serviceMs = this.serviceMs === null ? heldMs : this.serviceMs + SERVICE_SMOOTHING * (heldMs - this.serviceMs);
    this.stopRunning(client);
    this.busy.delete(connection);
    if (this.retiring.delete(connection)) {
      connection.closeSync();
      if (this.retiring.size === 0) {
        this.retired?.();
        this.retired = null;
      }
      this.admitWaiting();
      return;
    }
    if (this.closed) {
      connection.closeSync();
      return;
    }
    const next = this.takeNext();
    if (!next) {
      this.idle.push(connection);
      return;
    }
    this.startRunning(next.client);
    this.busy.add(connection);
    next.grant(connection); // the slot passes straight to the next query
  }

  /** A slot freed without a connection to hand on: the next waiter gets a fresh one. */
  private admitWaiting(): void {
    if (this.closed) return;
    const next = this.takeNext();
    if (!next) return;
    this.startRunning(next.client);
    this.connect().then(
      (connection) => {
        this.busy.add(connection);
        next.grant(connection);
      },
      (error: Error) => {
        this.stopRunning(next.client);
        next.reject(error);
      },
    );
  }

  /**
   * Takes the next query to run out of the queue (nextWaiter); one with less of its deadline
   * left than a query usually takes is refused on the way instead of started.
   */
  private takeNext(): Waiter | undefined {
    for (let next = this.nextWaiter(); next; next = this.nextWaiter()) {
      this.remove(next);
      if (this.serviceMs !== null && next.deadline - performance.now() < this.serviceMs) {
        next.reject(this.overload('too little of its deadline was left when a slot came free for it to finish'));
        continue;
      }
      return next;
    }
    return undefined;
  }

  /** The next query to run: see the header for the order. */
  private nextWaiter(): Waiter | undefined {
    let best: Waiter[] | undefined;
    let bestRunning = Infinity;
    let bestServed = Infinity;
    for (const [client, queue] of this.waiting) {
      const running = this.runningBy.get(client) ?? 0;
      const served = this.servedAt.get(client) ?? -1;
      if (running < bestRunning || (running === bestRunning && served < bestServed)) {
        best = queue;
        bestRunning = running;
        bestServed = served;
      }
    }
    if (!best) return undefined;
    const oldest = best[0]!;
    const halfSpent = performance.now() - oldest.admitted > (oldest.deadline - oldest.admitted) / 2;
    return halfSpent ? best[best.length - 1] : oldest;
  }

  private isWaiting(waiter: Waiter): boolean {
    return this.waiting.get(waiter.client)?.includes(waiter) ?? false;
  }

  /** Takes a waiter out of its queue; false when it was no longer waiting. */
  private remove(waiter: Waiter): boolean {
    const queue = this.waiting.get(waiter.client);
    const index = queue?.indexOf(waiter) ?? -1;
    if (index < 0) return false;
    queue!.splice(index, 1);
    if (queue!.length === 0) {
      this.waiting.delete(waiter.client);
      if (!this.runningBy.has(waiter.client)) this.servedAt.delete(waiter.client);
    }
    this.queued--;
    return true;
  }

  private startRunning(client: string): void {
    this.running++;
    this.runningBy.set(client, (this.runningBy.get(client) ?? 0) + 1);
    this.servedAt.set(client, this.served++);
  }

  private stopRunning(client: string): void {
    this.running--;
    const count = (this.runningBy.get(client) ?? 1) - 1;
    if (count > 0) {
      this.runningBy.set(client, count);
      return;
    }
    this.runningBy.delete(client);
    if (!this.waiting.has(client)) this.servedAt.delete(client);
  }
}
