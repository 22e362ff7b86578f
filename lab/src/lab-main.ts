/**
 * `npm run lab`: builds the mesh lab (see mesh.ts) as root, starts an agent on every member,
 * prints their URLs, the token and a Grafana data source snippet, then generates the traffic
 * mix every few seconds until Ctrl-C (or --duration), and tears everything down on exit.
 *
 *   npm run lab -- [--duration SECONDS] [--interval SECONDS] [--token TOKEN]
 */
import { parseArgs } from 'node:util';
import { agentBuilt, AGENT_CLI } from './agent';
import { buildMeshLab } from './mesh';
import { startMeshAgents } from './mesh-agents';
import { startServices, trafficRound } from './mesh-traffic';
import { Lab } from './netns';
import { isRoot, sleep } from './run';

const tty = process.stdout.isTTY;
const say = (text: string) => process.stdout.write(`${text}\n`);

function positiveSeconds(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number of seconds, got "${value}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { duration: { type: 'string' }, interval: { type: 'string' }, token: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) {
    say('usage: npm run lab -- [--duration SECONDS (default 3600)] [--interval SECONDS (default 5)] [--token TOKEN]');
    return;
  }
  const durationS = positiveSeconds(values.duration, 3600, 'duration');
  const intervalS = positiveSeconds(values.interval, 5, 'interval');
  if (!isRoot()) throw new Error('the mesh lab needs root (network namespaces, wireguard-go, packet capture)');
  if (!agentBuilt()) throw new Error(`agent not built (${AGENT_CLI} missing): npm run build -w agent`);

  const lab = new Lab();
  say(`[lab] building the mesh (run id ${lab.id}, work dir ${lab.workDir})`);
  const mesh = buildMeshLab(lab);
  await startServices(mesh, (durationS + 60) * 1000);
  const { agents, token } = await startMeshAgents(mesh, { token: values.token, gatewayUplinks: true });

  say('\nFlowmesh mesh lab is up. Agents (capturing on their WireGuard interface; the gateway also on its LAN and egress):');
  for (const a of agents) say(`  ${a.member.name.padEnd(8)} ${a.url}   (${a.member.role}, ${a.member.wg.ip}, interface ${a.member.wg.name})`);
  say(`Token (all agents): ${token}`);
  say(`Try: curl -s -H 'Authorization: Bearer ${token}' ${agents[0].url}/info`);
  say('\nGrafana data source (provisioning/datasources/*.yaml):');
  say('  jsonData:\n    agents:');
  for (const a of agents) say(`      - { name: ${a.member.name}, url: ${a.url} }`);
  say(`  secureJsonData:\n    token: ${token}`);
  say(`\nGenerating traffic every ${intervalS} s for up to ${durationS} s. Ctrl-C tears the lab down.\n`);

  const deadline = Date.now() + durationS * 1000;
  let round = 0;
  const failures = new Map<string, number>();
  while (Date.now() < deadline) {
    round += 1;
    const outcomes = await trafficRound(mesh);
    for (const o of outcomes.filter((x) => !x.ok)) failures.set(o.step, (failures.get(o.step) ?? 0) + 1);
    const ok = outcomes.filter((o) => o.ok).length;
    const line = `[lab] round ${round}: ${ok}/${outcomes.length} steps as designed${ok < outcomes.length ? ` (unexpected: ${outcomes.filter((o) => !o.ok).map((o) => `${o.step}: ${o.detail}`).join('; ')})` : ''}`;
    if (tty) process.stdout.write(`\r${line}`.padEnd(100));
    else say(line);
    for (const a of agents) {
      if (a.process.child.exitCode !== null) throw new Error(`agent ${a.member.name} exited (${a.process.child.exitCode}); log ${a.process.logFile}`);
    }
    await sleep(Math.min(intervalS * 1000, Math.max(0, deadline - Date.now())));
  }
  say(`\n[lab] ${round} rounds done${failures.size ? `; unexpected outcomes: ${[...failures].map(([s, n]) => `${s} x${n}`).join(', ')}` : ''}`);
  await Promise.all(agents.map((a) => a.process.stop().catch((e: Error) => say(`[lab] ${e.message}`))));
  lab.destroy();
  say('[lab] torn down');
}

main().catch((error: Error) => {
  process.stderr.write(`[lab] ${error.message}\n`);
  process.exitCode = 1;
});
