/**
 * Builds what the bench measures before anything runs, as users build it: the agent
 * (`npm run build -w agent`: the capture addon, then TypeScript) when agent/dist is missing or
 * older than a source file, else the addon's own up-to-date check (`npm run build-addon -w agent`); the lab harness the
 * live section runs in (`npm run build -w lab`) when lab/dist is missing or older. A failed
 * build stops the bench with the build's output.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './log';
import { AGENT_CLI, AGENT_DIST, LAB_NETNS, REPO_ROOT } from './paths';
import { runTool } from './proc';

/** The newest file under `dir` (recursively) when it is newer than `built`, else null. */
function newerSource(dir: string, built: string): string | null {
  const builtMs = existsSync(built) ? statSync(built).mtimeMs : -1;
  let newest: { path: string; mtimeMs: number } | null = null;
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const mtimeMs = statSync(path).mtimeMs;
        if (!newest || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
      }
    }
  };
  walk(dir);
  const found = newest as { path: string; mtimeMs: number } | null;
  return found && found.mtimeMs > builtMs ? found.path : null;
}

async function npmBuild(workspace: string, why: string): Promise<void> {
  log.step(`building ${workspace} (${why})`);
  try {
    await runTool('npm', ['run', 'build', '-w', workspace], { cwd: REPO_ROOT, timeoutS: 900 });
  } catch (error) {
    throw new Error(`building ${workspace} failed: ${(error as Error).message}`, { cause: error });
  }
}

export async function buildWhatTheBenchNeeds(options: { lab: boolean }): Promise<void> {
  const agentSource = newerSource(join(AGENT_DIST, '../src'), AGENT_CLI);
  if (agentSource) await npmBuild('agent', existsSync(AGENT_CLI) ? `${agentSource} is newer than the build` : 'not built');
  else await runTool('npm', ['run', '--silent', 'build-addon', '-w', 'agent'], { cwd: REPO_ROOT, timeoutS: 900 });
  if (!options.lab) return;
  const labSource = newerSource(join(REPO_ROOT, 'lab/src'), LAB_NETNS);
  if (labSource) await npmBuild('lab', existsSync(LAB_NETNS) ? `${labSource} is newer than the build` : 'not built');
}
