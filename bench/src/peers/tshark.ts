/**
 * tshark conversation statistics (`-q -z conv,tcp -z conv,udp`): bidirectional TCP and UDP
 * conversations with frame counts and frame bytes (ICMP is not a conversation table here, so
 * ICMP flows are missing by construction; tshark prints per-direction bytes rounded to kB/MB
 * once they exceed 10 kB, so byte totals are approximate).
 */
import { runTool } from '../proc';
import type { Peer, PeerRun } from './types';

const UNIT: Record<string, number> = { bytes: 1, kB: 1000, MB: 1e6, GB: 1e9 };

export function parseConversations(text: string): { flows: number; packets: number; bytes: number; approximate: boolean } {
  let flows = 0;
  let packets = 0;
  let bytes = 0;
  let approximate = false;
  const row = /<->\s+\S+\s+(\d+)\s+([\d.]+)\s+(bytes|kB|MB|GB)\s+(\d+)\s+([\d.]+)\s+(bytes|kB|MB|GB)/;
  for (const line of text.split('\n')) {
    const m = row.exec(line);
    if (!m) continue;
    flows++;
    packets += Number(m[1]) + Number(m[4]);
    bytes += Number(m[2]) * UNIT[m[3]] + Number(m[5]) * UNIT[m[6]];
    if (m[3] !== 'bytes' || m[6] !== 'bytes') approximate = true;
  }
  return { flows, packets, bytes, approximate };
}

export const tshark: Peer = {
  name: 'tshark',
  command: 'tshark -r FILE -q -z conv,tcp -z conv,udp',
  requires: ['tshark'],
  async run(pcap: string): Promise<PeerRun> {
    const run = await runTool('tshark', ['-r', pcap, '-q', '-z', 'conv,tcp', '-z', 'conv,udp'], { timeoutS: 1200, usage: true });
    const c = parseConversations(run.stdout);
    return {
      seconds: run.seconds, cpuSeconds: run.cpuSeconds, flows: c.flows, flowKind: 'bidirectional', packets: c.packets, bytes: c.bytes, bytesKind: 'frame',
      bytesApproximate: c.approximate, note: 'TCP and UDP conversations only (no ICMP)',
    };
  },
};
