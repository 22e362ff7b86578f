/**
 * Test helper for live captures on loopback: UDP datagrams sent to 127.0.0.1, a random port
 * for a test's own filter, and a bounded wait for the packets to arrive.
 */
import * as dgram from 'node:dgram';

/** A port in 40000-59999, so concurrent tests' filters do not see each other's datagrams. */
export const randomPort = (): number => 40000 + Math.floor(Math.random() * 20000);

/** Sends `count` datagrams of `payload` to 127.0.0.1:port, one after the other. */
export async function sendUdp(port: number, count: number, payload = Buffer.alloc(32)): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    for (let i = 0; i < count; i++) await new Promise<void>((resolve, reject) => socket.send(payload, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  } finally {
    socket.close();
  }
}

/** Returns once `condition` holds or `timeoutMs` has passed (the caller asserts what it waited for). */
export async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}
