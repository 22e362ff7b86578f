#!/usr/bin/env node
// @ts-check
/**
 * Traffic endpoints that run inside lab namespaces (`ip netns exec NS node tool.js CMD ...`).
 * Plain Node, no dependencies, so it starts anywhere the agent runs. Every command prints
 * JSON lines on stdout: servers print {"event":"ready"} once listening, every command ends
 * with one result line ({"event":"done",...} or {"event":"timeout"}) and exits. Every
 * command has a hard time limit (--timeout ms, default 10000), and servers stop after a
 * bounded number of requests (--count, default 1), so nothing runs away.
 *
 * Commands:
 *   tcp-serve  --host H --port P [--reply BYTES] [--count N]
 *        per connection: read until the client half-closes, then send BYTES and close
 *   tcp-send   --host H --port P --bytes N [--hold MS]
 *        connect, send exactly N bytes, (keep the connection open MS ms,) half-close, read the
 *        reply until the server closes
 *   tcp-connect --host H --port P [--reset 1]
 *        just connect: reports connected | refused | timeout (closes a connected socket;
 *        with --reset 1 aborts it with an RST instead of a FIN: outcome reset)
 *   udp-serve  --host H --port P [--reply BYTES] [--count N]
 *        answer each datagram with one datagram of BYTES
 *   udp-send   --host H --port P --bytes N
 *        send one datagram of N bytes and wait for one answer
 *   http-serve --host H --port P [--count N]
 *        GET /bytes/N answers N bytes of body
 *   http-get   --url URL
 *   dns-serve  --host H --port P --records name=ipv4,name=ipv4 [--count N]
 *        answers A queries for the listed names (NXDOMAIN otherwise)
 *   dns-query  --server H --port P --name NAME
 */
const net = require('node:net');
const dgram = require('node:dgram');
const http = require('node:http');

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {Record<string, string>} */
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (!key.startsWith('--') || argv[i + 1] === undefined) fail(`bad argument "${key}": expected --name value pairs`);
    out[key.slice(2)] = argv[i + 1];
  }
  return out;
}

/** @param {string} message @returns {never} */
function fail(message) {
  process.stdout.write(`${JSON.stringify({ event: 'error', message })}\n`);
  process.exit(2);
}

/** @param {Record<string, unknown>} obj */
function emit(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** @param {Record<string, unknown>} result */
function finish(result) {
  emit({ event: 'done', ...result });
  process.exit(0);
}

/** @param {Record<string, string>} args @param {string} name @param {number} [fallback] */
function intArg(args, name, fallback) {
  const raw = args[name];
  if (raw === undefined) {
    if (fallback === undefined) fail(`--${name} is required`);
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) fail(`--${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

/** @param {Record<string, string>} args @param {string} name */
function strArg(args, name) {
  const value = args[name];
  if (value === undefined) fail(`--${name} is required`);
  return value;
}

/** Writes n bytes in chunks, respecting back-pressure; resolves when all are queued. @param {import('node:net').Socket} socket @param {number} n */
async function writeBytes(socket, n) {
  const chunk = Buffer.alloc(Math.min(n, 65536), 0x61);
  let left = n;
  while (left > 0) {
    const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
    left -= piece.length;
    if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve));
  }
}

/** @param {Record<string, string>} args */
function tcpServe(args) {
  const reply = intArg(args, 'reply', 0);
  let remaining = intArg(args, 'count', 1);
  /** @type {Array<Record<string, unknown>>} */
  const connections = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let received = 0;
    socket.on('data', (data) => (received += data.length));
    socket.on('end', async () => {
      await writeBytes(socket, reply);
      socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      connections.push({ received, sent: reply, remotePort: socket.remotePort });
      remaining -= 1;
      if (remaining === 0) server.close(() => finish({ connections }));
    });
  });
  server.listen(intArg(args, 'port'), strArg(args, 'host'), () => emit({ event: 'ready' }));
}

/** @param {Record<string, string>} args */
function tcpSend(args) {
  const bytes = intArg(args, 'bytes');
  let received = 0;
  const socket = net.connect({ host: strArg(args, 'host'), port: intArg(args, 'port'), allowHalfOpen: true });
  let localPort = 0;
  const holdMs = intArg(args, 'hold', 0);
  socket.on('connect', async () => {
    localPort = socket.localPort ?? 0;
    emit({ event: 'connected', localPort });
    await writeBytes(socket, bytes);
    if (holdMs > 0) await new Promise((resolve) => setTimeout(resolve, holdMs));
    socket.end();
  });
  socket.on('data', (data) => (received += data.length));
  socket.on('end', () => socket.end());
  socket.on('close', (hadError) => finish({ sent: bytes, received, localPort, hadError }));
  socket.on('error', (error) => emit({ event: 'socket-error', code: /** @type {NodeJS.ErrnoException} */ (error).code }));
}

/** @param {Record<string, string>} args @param {number} timeoutMs */
function tcpConnect(args, timeoutMs) {
  const socket = net.connect({ host: strArg(args, 'host'), port: intArg(args, 'port') });
  // Give up before Linux's first SYN retransmission (1 s), so a dropped SYN is sent exactly once.
  const giveUp = setTimeout(() => {
    socket.destroy();
    finish({ outcome: 'timeout' });
  }, Math.min(timeoutMs - 100, intArg(args, 'wait', 700)));
  const reset = intArg(args, 'reset', 0) === 1;
  socket.on('connect', () => {
    clearTimeout(giveUp);
    const localPort = socket.localPort;
    socket.on('close', () => finish({ outcome: reset ? 'reset' : 'connected', localPort }));
    if (reset) socket.resetAndDestroy();
    else socket.end();
  });
  socket.on('error', (error) => {
    clearTimeout(giveUp);
    const code = /** @type {NodeJS.ErrnoException} */ (error).code;
    finish({ outcome: code === 'ECONNREFUSED' ? 'refused' : 'error', code });
  });
}

/** @param {Record<string, string>} args */
function udpServe(args) {
  const reply = Buffer.alloc(intArg(args, 'reply', 0), 0x62);
  let remaining = intArg(args, 'count', 1);
  /** @type {Array<Record<string, unknown>>} */
  const requests = [];
  const socket = dgram.createSocket(args.host && args.host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (message, from) => {
    requests.push({ received: message.length, remotePort: from.port });
    socket.send(reply, from.port, from.address, () => {
      remaining -= 1;
      if (remaining === 0) socket.close(() => finish({ requests }));
    });
  });
  socket.bind(intArg(args, 'port'), strArg(args, 'host'), () => emit({ event: 'ready' }));
}

/** @param {Record<string, string>} args */
function udpSend(args) {
  const host = strArg(args, 'host');
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('message', (message) => {
    const localPort = socket.address().port;
    socket.close(() => finish({ received: message.length, localPort }));
  });
  socket.send(Buffer.alloc(intArg(args, 'bytes'), 0x63), intArg(args, 'port'), host);
}

/** @param {Record<string, string>} args */
function httpServe(args) {
  let remaining = intArg(args, 'count', 1);
  const server = http.createServer((req, res) => {
    const match = /^\/bytes\/(\d{1,10})$/.exec(req.url ?? '');
    if (!match) {
      res.writeHead(404).end('not found\n');
    } else {
      const n = Number(match[1]);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n, connection: 'close' });
      res.end(Buffer.alloc(n, 0x64));
    }
    res.on('finish', () => {
      remaining -= 1;
      if (remaining === 0) server.close(() => finish({}));
    });
  });
  server.listen(intArg(args, 'port'), strArg(args, 'host'), () => emit({ event: 'ready' }));
}

/** @param {Record<string, string>} args */
function httpGet(args) {
  const req = http.get(strArg(args, 'url'), { agent: false, headers: { connection: 'close' } }, (res) => {
    let bytes = 0;
    res.on('data', (data) => (bytes += data.length));
    res.on('end', () => finish({ status: res.statusCode, bytes }));
  });
  req.on('error', (error) => finish({ status: 0, code: /** @type {NodeJS.ErrnoException} */ (error).code }));
}

/** Reads the question name of a DNS message; returns it and the offset after QTYPE/QCLASS. @param {Buffer} msg */
function readQuestion(msg) {
  const labels = [];
  let offset = 12;
  while (offset < msg.length && msg[offset] !== 0) {
    const length = msg[offset];
    if (length > 63 || offset + 1 + length > msg.length) return null;
    labels.push(msg.toString('ascii', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  if (offset + 5 > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(offset + 1), end: offset + 5 };
}

/** @param {Record<string, string>} args */
function dnsServe(args) {
  /** @type {Map<string, number[]>} */
  const records = new Map();
  for (const pair of strArg(args, 'records').split(',')) {
    const [name, ip] = pair.split('=');
    if (!name || !ip || net.isIPv4(ip) === false) fail(`bad --records entry "${pair}": expected name=ipv4`);
    records.set(name.toLowerCase(), ip.split('.').map(Number));
  }
  let remaining = intArg(args, 'count', 1);
  const socket = dgram.createSocket('udp4');
  socket.on('message', (query, from) => {
    const question = query.length >= 12 ? readQuestion(query) : null;
    if (!question) return;
    const address = question.type === 1 ? records.get(question.name) : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8180 | (address ? 0 : 3), 2); // response, RD+RA, rcode NOERROR / NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(address ? 1 : 0, 6);
    const parts = [header, query.subarray(12, question.end)];
    if (address) {
      const answer = Buffer.alloc(16);
      answer.writeUInt16BE(0xc00c, 0); // pointer to the question name
      answer.writeUInt16BE(1, 2); // A
      answer.writeUInt16BE(1, 4); // IN
      answer.writeUInt32BE(60, 6); // TTL
      answer.writeUInt16BE(4, 10);
      Buffer.from(address).copy(answer, 12);
      parts.push(answer);
    }
    socket.send(Buffer.concat(parts), from.port, from.address, () => {
      remaining -= 1;
      if (remaining === 0) socket.close(() => finish({}));
    });
  });
  socket.bind(intArg(args, 'port', 53), strArg(args, 'host'), () => emit({ event: 'ready' }));
}

/** @param {Record<string, string>} args */
function dnsQuery(args) {
  const name = strArg(args, 'name');
  const question = Buffer.concat([
    ...name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'ascii')])),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg) => {
    const rcode = msg.length >= 4 ? msg[3] & 0x0f : -1;
    const answers = msg.length >= 8 ? msg.readUInt16BE(6) : 0;
    const address = answers > 0 && msg.length >= 4 ? [...msg.subarray(msg.length - 4)].join('.') : null;
    socket.close(() => finish({ rcode, address }));
  });
  socket.send(Buffer.concat([header, question]), intArg(args, 'port', 53), strArg(args, 'server'));
}

function main() {
  const [command, ...rest] = process.argv.slice(2);
  const args = parseArgs(rest);
  const timeoutMs = intArg(args, 'timeout', 10000);
  delete args.timeout;
  setTimeout(() => {
    emit({ event: 'timeout' });
    process.exit(3);
  }, timeoutMs).unref();
  /** @type {Record<string, (a: Record<string, string>) => void>} */
  const commands = {
    'tcp-serve': tcpServe,
    'tcp-send': tcpSend,
    'tcp-connect': (a) => tcpConnect(a, timeoutMs),
    'udp-serve': udpServe,
    'udp-send': udpSend,
    'http-serve': httpServe,
    'http-get': httpGet,
    'dns-serve': dnsServe,
    'dns-query': dnsQuery,
  };
  const run = command ? commands[command] : undefined;
  if (!run) fail(`unknown command "${command ?? ''}"; expected one of ${Object.keys(commands).join(', ')}`);
  run(args);
}

main();
