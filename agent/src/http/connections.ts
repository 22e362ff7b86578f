/**
 * Connection-level bounds of the API server, so that nothing a client does with connections
 * can exhaust the agent's file descriptors or memory:
 *
 * - at most `max_connections` open connections (Node's server.maxConnections: more are
 *   closed as they arrive), and at most `max_connections_per_client` from one client;
 * - a connection on which nothing moves for `stalledMs` (a client that stopped sending its
 *   request or stopped reading its answer) is destroyed;
 * - a malformed or timed-out request (Node's headersTimeout / requestTimeout, see app.ts) is
 *   answered (400/408/431) and its connection closed.
 *
 * A client is one address, an IPv6 client one /64 (what one host usually has). The same key
 * makes query admission fair (query/pool.ts).
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { AgentMetrics } from '../metrics';

/** The client a peer address belongs to: the address itself, or its /64 for IPv6. */
export function clientKey(address: string | undefined): string {
  if (!address) return '';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  const [head = '', tail] = bare.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export interface ConnectionLimits {
  maxConnections: number;
  maxPerClient: number;
  /** Destroy a connection on which nothing was read or written for this long. */
  stalledMs: number;
}

/** Applies the limits to a listening (or about to listen) server; returns the open connections per client (for tests). */
export function limitConnections(server: HttpServer, limits: ConnectionLimits, metrics: AgentMetrics): Map<string, number> {
  const perClient = new Map<string, number>();
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => metrics.apiConnectionRefused('max_connections'));
  server.on('connection', (socket: Socket) => {
    const client = clientKey(socket.remoteAddress);
    const open = (perClient.get(client) ?? 0) + 1;
    if (open > limits.maxPerClient) {
      metrics.apiConnectionRefused('max_connections_per_client');
      socket.destroy();
      return;
    }
    perClient.set(client, open);
    metrics.apiConnectionOpened();
    socket.once('close', () => {
      metrics.apiConnectionEnded();
      const left = (perClient.get(client) ?? 1) - 1;
      if (left === 0) perClient.delete(client);
      else perClient.set(client, left);
    });
  });
  // With a listener here Node no longer destroys stalled sockets itself (server.setTimeout).
  server.setTimeout(limits.stalledMs);
  server.on('timeout', (socket: Socket) => {
    metrics.apiConnectionClosed('stalled');
    socket.destroy();
  });
  return perClient;
}
