/** Where things are: the repo, the built agent, the corpus cache (outside the repo) and results. */
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '../..');
export const BENCH_ROOT = join(REPO_ROOT, 'bench');
export const AGENT_DIST = join(REPO_ROOT, 'agent/dist');
export const AGENT_CLI = join(AGENT_DIST, 'cli.js');
/** The lab harness (network namespaces) the live section runs in. */
export const LAB_NETNS = join(REPO_ROOT, 'lab/dist/netns.js');
export const WORKER = join(__dirname, 'workers/agent-worker.js');
export const RESULTS_DIR = join(BENCH_ROOT, 'results');
export const GO_DRIVER_DIR = join(BENCH_ROOT, 'go');

/** Generated corpora and stored-flow databases, reused across runs (FLOWMESH_BENCH_CACHE overrides). */
export function cacheDir(...parts: string[]): string {
  const dir = join(process.env.FLOWMESH_BENCH_CACHE ?? join(homedir(), '.cache/flowmesh-bench'), ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}
