#!/usr/bin/env node
// @ts-check
/**
 * A burst of TCP connection attempts, run inside a lab namespace
 * (`ip netns exec NS node connect-burst.js HOST PORT COUNT WAIT_MS`): opens COUNT
 * connections at once (each from its own ephemeral port, so each is its own flow; PORT may
 * be a range FIRST-LAST, walked in order: the shape of a port scan), waits
 * WAIT_MS, then drops whatever has not connected (a socket still in SYN_SENT goes away
 * without sending anything, so an unanswered attempt stays "SYN only"). Prints one JSON line:
 * {"event":"done","connected":n,"refused":n,"unanswered":n,"errors":n}. Plain Node, bounded.
 */
const net = require('node:net');

function main() {
  const [host, portText, countText, waitText] = process.argv.slice(2);
  const [first, last = first] = String(portText).split('-').map(Number);
  const count = Number(countText);
  const waitMs = Number(waitText);
  const validPort = (/** @type {number} */ p) => Number.isInteger(p) && p > 0 && p < 65536;
  if (!host || !validPort(first) || !validPort(last) || last < first || !Number.isInteger(count) || count < 1 || count > 10000 || !Number.isInteger(waitMs)) {
    process.stdout.write(`${JSON.stringify({ event: 'error', message: 'usage: connect-burst.js HOST PORT|FIRST-LAST COUNT(1-10000) WAIT_MS' })}\n`);
    process.exit(2);
  }
  const outcome = { connected: 0, refused: 0, unanswered: 0, errors: 0 };
  /** @type {net.Socket[]} */
  const pending = [];
  for (let i = 0; i < count; i += 1) {
    const socket = net.connect({ host, port: first + (i % (last - first + 1)) });
    pending.push(socket);
    socket.on('connect', () => {
      outcome.connected += 1;
      socket.destroy();
    });
    socket.on('error', (/** @type {NodeJS.ErrnoException} */ error) => {
      if (error.code === 'ECONNREFUSED') outcome.refused += 1;
      else outcome.errors += 1;
    });
  }
  setTimeout(() => {
    for (const socket of pending) {
      if (socket.connecting) {
        outcome.unanswered += 1;
        socket.destroy();
      }
    }
    process.stdout.write(`${JSON.stringify({ event: 'done', ...outcome })}\n`);
    process.exit(0);
  }, waitMs);
}

main();
