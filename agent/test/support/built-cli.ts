/**
 * Test helper: the agent CLI as built (agent/dist/cli.js), rebuilt first when a source file
 * is newer, so process tests run the code under test rather than a stale build.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const AGENT_DIR = resolve(__dirname, '..', '..');
export const CLI = join(AGENT_DIR, 'dist', 'cli.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Rebuilds dist/ when a source file is newer than dist/cli.js. */
export function ensureCliBuilt(): void {
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= newestSource(join(AGENT_DIR, 'src'))) return;
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: AGENT_DIR, stdio: 'pipe' });
  } catch {
    // type errors elsewhere in the tree still emit JavaScript; callers check what they need
  }
}
