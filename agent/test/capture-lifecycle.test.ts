/**
 * The capture addon's lifetime on real libpcap: captures opened and closed many times leave no
 * libpcap handle, poll handle, file descriptor or memory behind; closed and never-closed
 * captures collected by the garbage collector do no harm; close() inside the packet handler
 * stops delivery; closed live captures let the event loop end (a child process exits by
 * itself) and a worker thread ending with a capture open closes it; a burst larger than one
 * batch is delivered one batch per event-loop turn.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { openLiveCapture, readCaptureFile } from '../src/capture';
import { BATCH_PACKETS, newNativeCapture, openNativeHandles } from '../src/capture/binding';
import { randomPort, sendUdp, waitFor } from './support/loopback';
import { makeCapture, type MadeCapture } from './support/synth';
import { privileged } from './support/privileged';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const AGENT_DIR = `${__dirname}/..`;
const liveTest = privileged('live capture lifecycle tests on lo').test;

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Resident memory, and the memory of Buffers and ArrayBuffers (where a kept batch buffer would show). */
function memory(): { rss: number; buffers: number } {
  gc();
  const usage = process.memoryUsage();
  return { rss: usage.rss, buffers: usage.arrayBuffers };
}

function expectNoGrowth(before: { rss: number; buffers: number }): void {
  const after = memory();
  expect(after.buffers - before.buffers).toBeLessThan(8 << 20);
  expect(after.rss - before.rss).toBeLessThan(24 << 20);
}

/** Lets libuv run close callbacks and the finalizers queued by a collection. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let cap: MadeCapture;
beforeAll(async () => {
  cap = await makeCapture({ seed: 9, flows: 40 });
});
afterAll(() => cap.cleanup());

test('200 filtered file reads through libpcap leave no handle, descriptor or memory behind', async () => {
  const read = () => readCaptureFile(cap.pcapPath, { filter: 'tcp' }, () => {});
  for (let i = 0; i < 50; i++) await read(); // allocator and heap warm-up
  await settle();
  const handles = openNativeHandles();
  const fds = openFds();
  const before = memory();
  for (let i = 0; i < 200; i++) expect((await read()).packets).toBeGreaterThan(0);
  await settle();
  expect(openNativeHandles()).toEqual(handles);
  expect(openFds()).toBe(fds);
  expectNoGrowth(before);
});

test('file captures dropped without close() are closed by the garbage collector', async () => {
  await settle();
  const handles = openNativeHandles();
  const fds = openFds();
  for (let i = 0; i < 50; i++) newNativeCapture().openOffline(cap.pcapPath);
  expect(openNativeHandles().pcap).toBe(handles.pcap + 50);
  await waitFor(() => {
    gc();
    return openNativeHandles().pcap === handles.pcap;
  }, 5000);
  expect(openNativeHandles()).toEqual(handles);
  expect(openFds()).toBe(fds);
});

describe('live', () => {
  liveTest('200 open/close cycles on lo, packets in every tenth: nothing leaks, the collector frees closed captures', async () => {
    const port = randomPort();
    const cycle = async (i: number) => {
      let seen = 0;
      const capture = openLiveCapture({ interface: 'lo', filter: `udp and dst port ${port}`, bufferSize: 1 << 20, bufferTimeoutMs: 1 }, () => seen++);
      if (i % 10 === 0) {
        await sendUdp(port, 3);
        await waitFor(() => seen >= 3, 5000);
        expect(seen).toBe(3);
      }
      capture.close();
      expect(capture.stats().delivered).toBe(seen);
    };
    for (let i = 0; i < 20; i++) await cycle(i); // allocator and heap warm-up
    await settle();
    const handles = openNativeHandles();
    const fds = openFds();
    const before = memory();
    for (let i = 0; i < 200; i++) await cycle(i);
    await settle();
    expect(openNativeHandles()).toEqual(handles);
    expect(openFds()).toBe(fds);
    expectNoGrowth(before);
    // every collected capture's memory was its own: capture again and traffic still arrives intact
    let payloadOk = 0;
    const again = openLiveCapture({ interface: 'lo', filter: `udp and dst port ${port}`, bufferTimeoutMs: 1 }, (buf, offset, capLen) => {
      if (buf[offset + capLen - 1] === 0xab) payloadOk++;
    });
    try {
      await sendUdp(port, 5, Buffer.alloc(64, 0xab));
      await waitFor(() => payloadOk >= 5, 5000);
      expect(payloadOk).toBe(5);
    } finally {
      again.close();
    }
  });

  liveTest('close() inside the handler stops delivery at once', async () => {
    const port = randomPort();
    let seen = 0;
    const capture = openLiveCapture({ interface: 'lo', filter: `udp and dst port ${port}`, bufferTimeoutMs: 50 }, () => {
      if (++seen === 2) capture.close();
    });
    await sendUdp(port, 10);
    await waitFor(() => seen >= 2, 5000);
    await new Promise((r) => setTimeout(r, 150));
    expect(seen).toBe(2);
    expect(capture.stats()).toMatchObject({ delivered: 2, received: expect.any(Number) });
    await settle();
    expect(openNativeHandles().poll).toBe(0);
  });

  liveTest('a burst larger than a batch is delivered one batch per event-loop turn', async () => {
    const port = randomPort();
    const burst = BATCH_PACKETS * 3;
    let turns = 0;
    const countTurns = (): void => {
      turns++;
      turner = setImmediate(countTurns);
    };
    let turner = setImmediate(countTurns);
    let seen = 0;
    let firstTurn = 0;
    let lastTurn = 0;
    const capture = openLiveCapture({ interface: 'lo', filter: `udp and dst port ${port}`, bufferTimeoutMs: 10 }, () => {
      if (++seen === 1) firstTurn = turns;
      if (seen === burst) lastTurn = turns;
    });
    try {
      // a child sends the whole burst while this event loop is blocked: it waits in the ring
      const sender = `const s = require('dgram').createSocket('udp4'); let n = 0;
        const next = () => n++ < ${burst} ? s.send(Buffer.alloc(8), ${port}, '127.0.0.1', next) : s.close(); next();`;
      const sent = spawnSync(process.execPath, ['-e', sender], { timeout: 20_000 });
      expect(sent.status).toBe(0);
      await waitFor(() => seen >= burst, 10_000);
      expect(seen).toBe(burst);
      expect(capture.stats().kernelDrops).toBe(0);
      expect(lastTurn - firstTurn).toBeGreaterThanOrEqual(2);
    } finally {
      clearImmediate(turner);
      capture.close();
    }
  });

  liveTest('closed captures release the event loop (the process ends by itself); a worker ending with one open closes it', () => {
    const script = `
      const dir = ${JSON.stringify(AGENT_DIR)};
      const addon = require('node-gyp-build')(dir);
      for (let i = 0; i < 50; i++) {
        const c = new addon.Capture();
        c.openLive('lo', 256, 1 << 20, false, 100);
        c.start(Buffer.alloc(4 << 20), new Float64Array(3 * 64), () => {});
        c.close();
      }
      const worker = new (require('node:worker_threads').Worker)(\`
        const c = new (require('node-gyp-build')(\${JSON.stringify(dir)}).Capture)();
        c.openLive('lo', 256, 1 << 20, false, 100);
        c.start(Buffer.alloc(4 << 20), new Float64Array(3 * 64), () => {});
        require('node:worker_threads').parentPort.postMessage('capturing');\`, { eval: true });
      worker.once('message', async () => {
        console.log('worker capturing: ' + addon.openHandles());
        await worker.terminate();
        setTimeout(() => console.log('after close callbacks: ' + addon.openHandles()), 20);
      });
    `;
    const child = spawnSync(process.execPath, ['-e', script], { cwd: AGENT_DIR, encoding: 'utf8', timeout: 20_000 });
    expect(child.error).toBeUndefined();
    expect(child.stderr).toBe('');
    expect(child.stdout.trim().split('\n')).toEqual(['worker capturing: 1,1', 'after close callbacks: 0,0']);
    expect(child.status).toBe(0);
  });
});
