/**
 * docker-compose.yml, validated offline: Debian's docker-compose (v1) checks the file
 * (`config -q`, no engine needed) and resolves it; the test then asserts the facts the
 * stack depends on and cross-checks them with the provisioning files, since the stack
 * cannot be started here.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { Inventory } from '../../agent/src/inventory';
import { fromRoot, provisionedDatasources, readYaml, repoRoot, run, whenToolPresent } from './helpers';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PLUGIN_ID = 'flowmesh-flows-datasource';
const composeFile = fromRoot('docker-compose.yml');
const maybe = whenToolPresent('docker-compose', 'docker-compose', 'the compose validation');

/** The resolved configuration, as docker-compose sees it, with a known token. */
function resolved(env: Record<string, string> = {}): Json {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'FLOWMESH_TOKEN' && k !== 'GRAFANA_ADMIN_PASSWORD'));
  const result = run('docker-compose', ['-f', composeFile, 'config'], repoRoot, { ...clean, ...env });
  if (result.status !== 0) throw new Error(`docker-compose config failed:\n${result.output}`);
  return parse(result.output);
}

/** v1 prints volumes as "source:target[:mode]". */
const mounts = (service: Json) =>
  (service.volumes ?? []).map((v: string | Json) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, readOnly: Boolean(v.read_only) };
    const [source, target, mode] = v.split(':');
    return { source, target, readOnly: mode === 'ro' };
  });
const mountAt = (service: Json, target: string) => mounts(service).find((m: Json) => m.target === target);
const flag = (command: string[], name: string) => command[command.indexOf(name) + 1];

maybe('docker-compose config -q accepts the file, and rejects a broken one (negative control)', () => {
  expect(run('docker-compose', ['-f', composeFile, 'config', '-q']).status).toBe(0);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowmesh-compose-'));
  try {
    const broken = path.join(dir, 'docker-compose.yml');
    writeFileSync(broken, 'services:\n  grafana:\n    image: grafana/grafana:12.4.10\n    cap_add: NET_RAW\n    portz: [3000]\n');
    expect(run('docker-compose', ['-f', broken, 'config', '-q'], dir).status).not.toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('resolved stack', () => {
  let config: Json;
  beforeAll(() => {
    if (maybe !== test.skip) config = resolved({ FLOWMESH_TOKEN: 'test-token-123' });
  });

  maybe('Grafana: built on the official image pinned at >= 12.3, unsigned allowance for exactly the plugin', () => {
    const grafana = config.services.grafana;
    const [, tag] = /^grafana\/grafana:(\d+\.\d+\.\d+)$/.exec(grafana.build.args.GRAFANA_IMAGE) ?? [];
    expect(tag).toBeDefined();
    const [major, minor] = tag.split('.').map(Number);
    expect(major > 12 || (major === 12 && minor >= 3)).toBe(true);
    expect(grafana.environment.GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS).toBe(PLUGIN_ID);
    const pluginJson = fromRoot('plugin/src/plugin.json');
    if (existsSync(pluginJson)) expect(JSON.parse(readFileSync(pluginJson, 'utf8')).id).toBe(PLUGIN_ID);
  });

  maybe('Grafana: an image built here with the plugin for this CPU, no host build mounted over it', () => {
    const grafana = config.services.grafana;
    expect(grafana.build).toMatchObject({ context: repoRoot, dockerfile: 'deploy/grafana/Dockerfile' });
    expect(mounts(grafana).filter((m: Json) => m.target.startsWith('/var/lib/grafana/plugins'))).toEqual([]);
    // The Dockerfile's default base image is the one compose pins.
    const dockerfile = readFileSync(fromRoot('deploy/grafana/Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ARG GRAFANA_IMAGE=${grafana.build.args.GRAFANA_IMAGE}`);
  });

  maybe('agents: name addresses from the demo inventory (node names, the monitoring services, the demo destinations)', () => {
    const inventory = Inventory.fromFile(fromRoot('deploy/compose/inventory.yaml'));
    const name = (ip: string) => inventory.lookup(Uint8Array.from(ip.split('.').map(Number)), 4);
    for (const service of ['agent-a', 'agent-b']) {
      const agent = config.services[service];
      const file = flag(agent.command, '--inventory');
      expect(mountAt(agent, file)).toEqual({ source: fromRoot('deploy/compose/inventory.yaml'), target: file, readOnly: true });
      expect(name(agent.networks.mesh.ipv4_address)).toEqual({ name: flag(agent.command, '--node'), type: 'node' });
    }
    for (const service of ['prometheus', 'grafana', 'alert-sink']) {
      expect(name(config.services[service].networks.mesh.ipv4_address)).toEqual({ name: service, type: 'user' });
    }
    // Every address the demo client contacts has a name.
    const script = config.services['demo-client'].command.join(' ');
    for (const [ip] of script.matchAll(/\b\d+\.\d+\.\d+\.\d+\b/g)) expect([ip, name(ip).name]).not.toEqual([ip, '']);
  });

  maybe('Grafana: every provisioning folder and the dashboards folder the provider reads are mounted', () => {
    const grafana = config.services.grafana;
    for (const kind of ['datasources', 'dashboards', 'alerting']) {
      expect(mountAt(grafana, `/etc/grafana/provisioning/${kind}`)).toEqual({
        source: fromRoot('provisioning/grafana', kind),
        target: `/etc/grafana/provisioning/${kind}`,
        readOnly: true,
      });
    }
    const provider = readYaml<Json>(fromRoot('provisioning/grafana/dashboards/flowmesh.yaml')).providers[0];
    expect(mountAt(grafana, provider.options.path)).toEqual({ source: fromRoot('dashboards/json'), target: provider.options.path, readOnly: true });
    const home = grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    expect(existsSync(fromRoot('dashboards/json', path.relative(provider.options.path, home)))).toBe(true);
  });

  maybe('the token reaches the agents and Grafana (which puts it in the data source secureJsonData)', () => {
    for (const name of ['agent-a', 'agent-b', 'grafana']) expect(config.services[name].environment.FLOWMESH_TOKEN).toBe('test-token-123');
    const flowmesh = provisionedDatasources().find((d) => d.uid === 'flowmesh');
    expect(flowmesh?.secureJsonData?.token).toBe('${FLOWMESH_TOKEN}');
    // Without FLOWMESH_TOKEN set, all three share the same demo default.
    const defaults = resolved();
    const tokens = new Set(['agent-a', 'agent-b', 'grafana'].map((n) => defaults.services[n].environment.FLOWMESH_TOKEN));
    expect(tokens.size).toBe(1);
  });

  maybe('agents: built from deploy/agent/Dockerfile, capture caps, a volume for the data dir, reachable by name', () => {
    const agents = provisionedDatasources().find((d) => d.uid === 'flowmesh')!.jsonData!.agents as { name: string; url: string }[];
    expect(agents.length).toBeGreaterThanOrEqual(2);
    for (const agent of agents) {
      const url = new URL(agent.url);
      const service = config.services[url.hostname];
      expect(service).toBeDefined();
      expect(service.build.dockerfile).toBe('deploy/agent/Dockerfile');
      expect(existsSync(path.join(service.build.context, service.build.dockerfile))).toBe(true);
      expect(service.cap_add).toEqual(expect.arrayContaining(['NET_RAW', 'NET_ADMIN']));
      const command: string[] = service.command;
      expect(command[0]).toBe('run');
      expect(flag(command, '--node')).toBe(agent.name);
      expect(flag(command, '--listen')).toBe(`0.0.0.0:${url.port}`);
      expect(flag(command, '--interface')).toBe('eth0');
      const dataDir = flag(command, '--data-dir');
      const volume = mountAt(service, dataDir);
      expect(volume).toBeDefined();
      expect(Object.keys(config.volumes)).toContain(volume.source);
    }
  });

  maybe('Prometheus: pinned image, the provisioned config mounted, scraping the agent services', () => {
    const prometheus = config.services.prometheus;
    expect(prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(mountAt(prometheus, '/etc/prometheus')).toEqual({ source: fromRoot('provisioning/prometheus'), target: '/etc/prometheus', readOnly: true });
    expect(prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const scrape = readYaml<Json>(fromRoot('provisioning/prometheus/prometheus.yml')).scrape_configs.find((j: Json) => j.job_name === 'flowmesh-agents');
    for (const target of scrape.static_configs.flatMap((s: Json) => s.targets)) {
      const [host, port] = target.split(':');
      expect(flag(config.services[host].command, '--listen')).toBe(`0.0.0.0:${port}`);
    }
    const prometheusDs = provisionedDatasources().find((d) => d.uid === 'prometheus') as Json;
    expect(new URL(prometheusDs.url).hostname).toBe('prometheus');
  });

  maybe('demo traffic runs inside the agents\' network namespaces and stops by itself', () => {
    const client = config.services['demo-client'];
    const server = config.services['demo-server'];
    expect(client.network_mode).toBe('service:agent-a');
    expect(server.network_mode).toBe('service:agent-b');
    const script = client.command.join(' ');
    const [, rounds] = /seq 1 (\d+)/.exec(script) ?? [];
    expect(Number(rounds)).toBeGreaterThan(0);
    expect(Number(rounds)).toBeLessThanOrEqual(1000);
    expect(script).toMatch(/sleep \d+/);
    expect(String(client.restart)).toBe('no');
    // It talks to node-b's address and the port the demo server listens on.
    const nodeB = config.services['agent-b'].networks.mesh.ipv4_address;
    expect(script).toContain(`http://${nodeB}:8080/`);
    expect(server.command.join(' ')).toContain('httpd -f -p 8080');
  });

  maybe('the webhook contact point points at a compose service', () => {
    const contactPoints = readYaml<Json>(fromRoot('provisioning/grafana/alerting/contact-points.yaml')).contactPoints;
    const webhook = contactPoints.flatMap((c: Json) => c.receivers).find((r: Json) => r.type === 'webhook');
    const url = new URL(webhook.settings.url);
    expect(config.services[url.hostname]).toBeDefined();
    expect(config.services[url.hostname].command.join(' ')).toContain(`nc -l -p ${url.port}`);
  });
});

test('the agent Dockerfile: node 20 bookworm-slim with libpcap, npm ci, build, entry flowmesh-agent run', () => {
  const dockerfile = readFileSync(fromRoot('deploy/agent/Dockerfile'), 'utf8');
  const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  expect(froms.every((f) => f === 'node:20-bookworm-slim')).toBe(true);
  expect(dockerfile).toMatch(/apt-get install[^\n]*libpcap-dev/);
  expect(dockerfile).toMatch(/apt-get install[^\n]*libpcap0\.8/);
  expect(dockerfile).toMatch(/npm ci --workspace agent/);
  expect(dockerfile).toMatch(/npm run build --workspace agent/);
  expect(dockerfile).toMatch(/ENTRYPOINT \[.*"flowmesh-agent"\]/);
  expect(dockerfile).toMatch(/CMD \["run"/);
  // The build output the wrapper runs is what the agent workspace builds.
  const agentPackage = JSON.parse(readFileSync(fromRoot('agent/package.json'), 'utf8'));
  expect(dockerfile).toContain(`/app/agent/${agentPackage.bin['flowmesh-agent']}`);
  // The context filter keeps what npm ci and the build need.
  const ignore = readFileSync(fromRoot('deploy/agent/Dockerfile.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const needed of ['agent', 'agent/src', 'package.json', 'package-lock.json', 'tsconfig.base.json']) expect(ignore).not.toContain(needed);
  const rootPackage = JSON.parse(readFileSync(fromRoot('package.json'), 'utf8'));
  for (const workspace of rootPackage.workspaces as string[]) {
    if (ignore.includes(`${workspace}/*`)) expect(ignore).toContain(`!${workspace}/package.json`);
  }
});

describe('the Grafana image: the plugin backend for the CPU it is built for', () => {
  const dockerfile = readFileSync(fromRoot('deploy/grafana/Dockerfile'), 'utf8');
  const stages = [...dockerfile.matchAll(/^FROM (.+)$/gm)].map((m) => m[1]);

  test('the backend stage cross-compiles for TARGETARCH on the build machine, with the same script as the host build', () => {
    expect(stages[0]).toMatch(/^--platform=\$BUILDPLATFORM golang:(\d+\.\d+)-bookworm AS backend$/);
    // The Go image is at least the go.mod version (its minor release).
    const goMod = readFileSync(fromRoot('plugin/go.mod'), 'utf8');
    const [, required] = /^go (\d+\.\d+)/m.exec(goMod) ?? [];
    const [, image] = /golang:(\d+\.\d+)/.exec(stages[0]) ?? [];
    expect(Number(image.split('.')[1])).toBeGreaterThanOrEqual(Number(required.split('.')[1]));
    expect(dockerfile).toMatch(/^ARG TARGETARCH$/m);
    expect(dockerfile).toMatch(/RUN bash scripts\/build-plugin-backend\.sh --arch "\$\{TARGETARCH/);
    expect(stages[1]).toMatch(/^--platform=\$BUILDPLATFORM node:20-bookworm-slim AS frontend$/);
    expect(stages[2]).toBe('${GRAFANA_IMAGE}');
    expect(dockerfile).toContain('COPY --from=backend /src/plugin/dist/ ${FLOWMESH_PLUGIN_DIR}/');
    expect(dockerfile).toContain('COPY --from=frontend /src/plugin/dist/ ${FLOWMESH_PLUGIN_DIR}/');
    expect(dockerfile).toMatch(/^ENV FLOWMESH_PLUGIN_DIR=\/var\/lib\/grafana\/plugins\/flowmesh-flows-datasource$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/local\/bin\/entrypoint.sh"\]$/m);
    // The files each stage copies survive the context filter.
    const ignore = readFileSync(fromRoot('deploy/grafana/Dockerfile.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const needed of ['plugin', 'plugin/pkg', 'plugin/src', 'package.json', 'package-lock.json', 'deploy/grafana']) expect(ignore).not.toContain(needed);
    expect(ignore).toContain('!scripts/build-plugin-backend.sh');
    expect(ignore).toContain('!deploy/grafana');
  });

  const go = whenToolPresent('go', 'golang (or Go from go.dev on the PATH)', 'the plugin backend build targets check', ['version']);
  go('every CPU the build script accepts maps to a build target the plugin SDK has; any other CPU is refused by name', () => {
    const script = readFileSync(fromRoot('scripts/build-plugin-backend.sh'), 'utf8');
    const targets = [...script.matchAll(/\[(\w+)\]=(build:\w+)/g)].map((m) => [m[1], m[2]]);
    expect(targets.map(([arch]) => arch)).toEqual(['amd64', 'arm64', 'arm']);
    const listed = run('go', ['tool', 'mage', '-l'], fromRoot('plugin'));
    expect(listed.status).toBe(0);
    for (const [, target] of targets) expect(listed.output).toMatch(new RegExp(`^\\s+${target}\\s`, 'm'));
    const refused = run('bash', [fromRoot('scripts/build-plugin-backend.sh'), '--arch', 'riscv64']);
    expect(refused.status).toBe(1);
    expect(refused.output).toContain("Grafana has no linux backend build for CPU 'riscv64' (amd64, arm64, arm)");
  });

  test('at start the image refuses to run Grafana without the backend for its CPU, and says which one is missing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'flowmesh-plugin-'));
    const check = (cpu: string) => run('sh', [fromRoot('deploy/grafana/check-plugin-executable.sh'), dir, cpu]);
    try {
      expect(check('x86_64').output).toContain('plugin.json is missing or names no backend executable');
      writeFileSync(path.join(dir, 'plugin.json'), JSON.stringify({ id: PLUGIN_ID, backend: true, executable: 'gpx_flowmesh' }));
      writeFileSync(path.join(dir, 'gpx_flowmesh_linux_amd64'), '', { mode: 0o755 });
      expect(check('x86_64')).toEqual({ status: 0, output: '' });
      const arm = check('aarch64');
      expect(arm.status).toBe(1);
      expect(arm.output).toContain(`this machine's CPU is aarch64, so Grafana needs ${dir}/gpx_flowmesh_linux_arm64, which is not there (present: gpx_flowmesh_linux_amd64)`);
      writeFileSync(path.join(dir, 'gpx_flowmesh_linux_arm64'), '', { mode: 0o755 });
      expect(check('aarch64').status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const entrypoint = readFileSync(fromRoot('deploy/grafana/entrypoint.sh'), 'utf8');
    expect(entrypoint).toMatch(/^check-plugin-executable\.sh "\$FLOWMESH_PLUGIN_DIR"$/m);
    expect(entrypoint).toMatch(/^exec \/run\.sh "\$@"$/m);
  });
});
