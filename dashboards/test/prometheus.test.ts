/**
 * provisioning/prometheus with the real promtool: the config and rules load, the rule unit
 * tests pass (series that spike fire, series that do not stay quiet), the unit tests catch
 * a broken threshold, and every metric the rules read is one the agent exports.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { contractMetricNames, fromRoot, readYaml, run, whenToolPresent } from './helpers';

const promDir = fromRoot('provisioning/prometheus');
const testFiles = readdirSync(path.join(promDir, 'tests'))
  .filter((f) => f.endsWith('.yml'))
  .map((f) => path.join('tests', f));

interface Rule { record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string> }
const groups = readYaml<{ groups: { name: string; rules: Rule[] }[] }>(path.join(promDir, 'rules.yml')).groups;
const rules = groups.flatMap((g) => g.rules);

const maybe = whenToolPresent('promtool', 'prometheus', 'the Prometheus config and rules tests');

maybe('promtool check config accepts prometheus.yml (and the rule files it names)', () => {
  const result = run('promtool', ['check', 'config', 'prometheus.yml'], promDir);
  expect(result.output).toContain('SUCCESS');
  expect(result.status).toBe(0);
});

maybe('promtool check rules accepts rules.yml', () => {
  const result = run('promtool', ['check', 'rules', 'rules.yml'], promDir);
  expect(result.output).toMatch(/SUCCESS: \d+ rules found/);
  expect(result.status).toBe(0);
});

maybe('promtool test rules: every unit test passes', () => {
  expect(testFiles.length).toBeGreaterThan(0);
  const result = run('promtool', ['test', 'rules', ...testFiles], promDir);
  expect(result.output).toContain('SUCCESS');
  expect(result.status).toBe(0);
});

maybe('the unit tests fail when an alert threshold is broken (negative control)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'flowmesh-rules-'));
  try {
    mkdirSync(path.join(dir, 'tests'));
    for (const f of testFiles) copyFileSync(path.join(promDir, f), path.join(dir, f));
    const broken = readFileSync(path.join(promDir, 'rules.yml'), 'utf8').replace(
      'node_interface:flowmesh_capture_drop_ratio:rate5m > 0.01',
      'node_interface:flowmesh_capture_drop_ratio:rate5m > 0.5',
    );
    expect(broken).toContain('> 0.5');
    writeFileSync(path.join(dir, 'rules.yml'), broken);
    const result = run('promtool', ['test', 'rules', ...testFiles], dir);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('FlowmeshCaptureDropping');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every alert has a unit test that expects it to fire, plus severity and summary', () => {
  const tested = testFiles.map((f) => readFileSync(path.join(promDir, f), 'utf8')).join('\n');
  const alerts = rules.filter((r) => r.alert);
  expect(alerts.map((a) => a.alert)).toEqual(expect.arrayContaining(['FlowmeshAgentDown', 'FlowmeshCaptureDropping', 'FlowmeshDecodeErrorsSpike', 'FlowmeshStoreBacklog', 'FlowmeshStoreDroppingRecords']));
  for (const alert of alerts) {
    expect({ alert: alert.alert, tested: tested.includes(`alertname: ${alert.alert}\n        exp_alerts:\n          - exp_labels`) }).toEqual({ alert: alert.alert, tested: true });
    expect(['warning', 'critical']).toContain(alert.labels?.severity);
  }
});

test('rules read only metrics the agent exports (docs/CONTRACTS.md) or recorded here', () => {
  const known = new Set([...contractMetricNames(), ...rules.filter((r) => r.record).map((r) => r.record!), 'up']);
  for (const rule of rules) {
    const names = [...rule.expr.matchAll(/\b([a-z_]+:[a-z_:0-9]+|flowmesh_[a-z_]+|up)\b/g)].map((m) => m[1]);
    for (const name of names) expect({ rule: rule.record ?? rule.alert, name, known: known.has(name) }).toEqual({ rule: rule.record ?? rule.alert, name, known: true });
  }
});

test('prometheus.yml scrapes every agent the Grafana data source queries, labelled with its node name', () => {
  const config = readYaml<{ scrape_configs: { job_name: string; static_configs: { targets: string[]; labels?: { node?: string } }[] }[] }>(
    path.join(promDir, 'prometheus.yml'),
  );
  const job = config.scrape_configs.find((j) => j.job_name === 'flowmesh-agents');
  const scraped = job!.static_configs.map((s) => ({ name: s.labels?.node, url: `http://${s.targets[0]}` }));
  const ds = readYaml<{ datasources: { uid: string; jsonData?: { agents?: { name: string; url: string }[] } }[] }>(
    fromRoot('provisioning/grafana/datasources/flowmesh.yaml'),
  ).datasources.find((d) => d.uid === 'flowmesh');
  expect(scraped).toEqual(ds!.jsonData!.agents);
});
