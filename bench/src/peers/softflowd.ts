/**
 * softflowd reading the capture (`-r`) and exporting NetFlow v9 to a local nfcapd, the way
 * it is deployed. Timed: softflowd from start to exit (it expires every flow at end of file).
 * Counted: nfdump's totals over what nfcapd received (directional flows, IP bytes);
 * softflowd's own exit statistics are the fallback when the collector lost export packets.
 *
 * `-c none`: softflowd 1.1.0 blocks in accept() on its control socket when reading a file
 * (no packet is processed until something connects); without a control socket it runs.
 * `-m 2000000`: a table large enough that no flow is force-expired early (default 8192).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { collectOutput, freePort, runTool, startTracked, stopChild } from '../proc';
import type { Peer, PeerRun } from './types';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function nfdumpTotals(text: string): { flows: number; packets: number; bytes: number } {
  const get = (key: string) => Number(new RegExp(`^${key}: (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { flows: get('Flows'), packets: get('Packets'), bytes: get('Bytes') };
}

/** softflowd's exit statistics: exported records and per-protocol octets/packets. */
export function softflowdStats(text: string): { flows: number; records: number; packets: number; bytes: number } {
  const exported = /Flows exported: (\d+) \((\d+) records\)/.exec(text);
  let packets = 0;
  let bytes = 0;
  for (const m of text.matchAll(/^\s+\S+ \(\d+\):\s+(\d+)\s+(\d+)\s/gm)) {
    bytes += Number(m[1]);
    packets += Number(m[2]);
  }
  return { flows: Number(exported?.[1] ?? NaN), records: Number(exported?.[2] ?? NaN), packets, bytes };
}

export const softflowd: Peer = {
  name: 'softflowd',
  command: 'softflowd -r FILE -n 127.0.0.1:PORT -v 9 -6 -d -c none -m 2000000 -> nfcapd -B 32M',
  requires: ['softflowd', 'nfcapd', 'nfdump'],
  async run(pcap: string, workDir: string): Promise<PeerRun> {
    const port = await freePort('udp');
    const dir = join(workDir, `nfcapd-${port}`);
    mkdirSync(dir, { recursive: true });
    const collector = startTracked('nfcapd', ['-p', String(port), '-b', '127.0.0.1', '-w', dir, '-B', String(32 << 20)]);
    const collectorOut = collectOutput(collector);
    try {
      for (let i = 0; i < 50 && !/Startup/.test(collectorOut.stdout() + collectorOut.stderr()); i++) await sleep(100);
      const run = await runTool('softflowd', ['-r', pcap, '-n', `127.0.0.1:${port}`, '-v', '9', '-6', '-d', '-c', 'none', '-m', '2000000', '-p', join(dir, 'softflowd.pid')], { timeoutS: 600, usage: true });
      await sleep(500); // let the last export datagrams land
      await stopChild(collector);
      const own = softflowdStats(run.stdout + run.stderr);
      const nf = nfdumpTotals((await runTool('nfdump', ['-R', dir, '-I'])).stdout);
      const lost = !(nf.flows === own.records);
      return {
        seconds: run.seconds,
        cpuSeconds: run.cpuSeconds,
        flows: lost ? own.records : nf.flows,
        flowKind: 'unidirectional',
        packets: lost ? own.packets : nf.packets,
        bytes: lost ? own.bytes : nf.bytes,
        bytesKind: 'ip',
        note: lost ? `collector received ${nf.flows} of ${own.records} exported records; softflowd's own counts shown` : undefined,
      };
    } finally {
      await stopChild(collector);
    }
  },
};
