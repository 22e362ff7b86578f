/**
 * argus reading the capture into an argus file (`-r` ... `-w`), timed; then racluster merges
 * status records into one per flow and ra-style output is summed (bidirectional flows, frame
 * bytes). Management records are filtered out.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { runTool } from '../proc';
import type { Peer, PeerRun } from './types';

export const argus: Peer = {
  name: 'argus',
  command: 'argus -r FILE -w OUT; racluster -r OUT -n -c , -s pkts bytes - not man',
  requires: ['argus', 'racluster'],
  async run(pcap: string, workDir: string): Promise<PeerRun> {
    const out = join(workDir, `argus-${process.pid}-${Date.now()}.argus`);
    try {
      const run = await runTool('argus', ['-r', pcap, '-w', out], { timeoutS: 900, usage: true });
      const listed = await runTool('racluster', ['-r', out, '-n', '-c', ',', '-s', 'pkts', 'bytes', '-', 'not', 'man'], { timeoutS: 600 });
      let flows = 0;
      let packets = 0;
      let bytes = 0;
      for (const line of listed.stdout.split('\n').slice(1)) {
        const [p, b] = line.split(',');
        if (!line.trim() || b === undefined) continue;
        flows++;
        packets += Number(p);
        bytes += Number(b);
      }
      return { seconds: run.seconds, cpuSeconds: run.cpuSeconds, flows, flowKind: 'bidirectional', packets, bytes, bytesKind: 'frame' };
    } finally {
      rmSync(out, { force: true });
    }
  },
};
