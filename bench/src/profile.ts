/**
 * `--profile`: runs the decode + flow table worker once under V8's CPU profiler on the
 * offline corpus, keeps the .cpuprofile in bench/results/ (open it in Chrome DevTools or
 * speedscope) and prints the functions with the most self time, so that a missed ingest
 * target comes with the place to look.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR, WORKER } from './paths';
import { runTool } from './proc';
import { formatTable } from './table';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileResult {
  file: string;
  totalMs: number;
  top: { function: string; location: string; selfMs: number; share: number }[];
}

export async function profileTable(pcap: string, maxFlows = 262144, top = 20): Promise<ProfileResult> {
  const dir = join(RESULTS_DIR, `profile-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    await runTool(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, WORKER, 'table', pcap, String(maxFlows)], { timeoutS: 900 });
    const name = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!name) throw new Error('the profiler wrote no .cpuprofile');
    const file = join(RESULTS_DIR, 'decode-flow-table.cpuprofile');
    renameSync(join(dir, name), file);
    return { file, ...summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Self time per function (summed over call sites). */
export function summarise(profile: CpuProfile, top: number): Omit<ProfileResult, 'file'> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { function: string; location: string; us: number }>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    const location = frame.url ? `${frame.url.replace(/^.*\/(agent|node_modules)\//, '$1/')}:${frame.lineNumber + 1}` : '(native)';
    const key = `${frame.functionName}@${location}`;
    const entry = self.get(key) ?? { function: frame.functionName || '(anonymous)', location, us: 0 };
    entry.us += us;
    self.set(key, entry);
  });
  return {
    totalMs: total / 1000,
    top: [...self.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => ({ function: e.function, location: e.location, selfMs: e.us / 1000, share: e.us / total })),
  };
}

export function reportProfile(p: ProfileResult): string {
  return (
    formatTable(`CPU profile of decode + flow table (${p.totalMs.toFixed(0)} ms sampled; ${p.file})`, ['function', 'where', 'self ms', 'share'],
      p.top.map((t) => [t.function, t.location, t.selfMs.toFixed(0), `${(t.share * 100).toFixed(1)}%`])) +
    '\nscan is the file reader\'s loop over packet records (each packet handed over in place).\n'
  );
}
