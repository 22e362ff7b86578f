/** Shared by the dashboard, provisioning and compose tests: repo paths, YAML loading, SDK schemas. */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { createGenerator } from 'ts-json-schema-generator';
import { parse } from 'yaml';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const fromRoot = (...parts: string[]) => path.join(repoRoot, ...parts);

export const readYaml = <T = Record<string, unknown>>(file: string): T => parse(readFileSync(file, 'utf8')) as T;

export const yamlFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f));

export interface ProvisionedDatasource {
  name: string;
  uid: string;
  type: string;
  jsonData?: Record<string, unknown>;
  secureJsonData?: Record<string, string>;
}

/** Every data source provisioned in provisioning/grafana/datasources. */
export function provisionedDatasources(): ProvisionedDatasource[] {
  return yamlFiles(fromRoot('provisioning/grafana/datasources')).flatMap(
    (file) => readYaml<{ datasources: ProvisionedDatasource[] }>(file).datasources,
  );
}

/** Metric names pinned in docs/CONTRACTS.md ("Prometheus metrics" table). */
export function contractMetricNames(): string[] {
  const contracts = readFileSync(fromRoot('docs/CONTRACTS.md'), 'utf8');
  const table = contracts.slice(contracts.indexOf('## Prometheus metrics'));
  return [...new Set([...table.matchAll(/`(flowmesh_[a-z_]+)`/g)].map((m) => m[1]))];
}

/** Plugin query types from docs/CONTRACTS.md ("queryType": "flows | top | ..."). */
export function contractQueryTypes(): string[] {
  const contracts = readFileSync(fromRoot('docs/CONTRACTS.md'), 'utf8');
  const match = /"queryType":\s*"([^"]+)"/.exec(contracts);
  if (!match) throw new Error('docs/CONTRACTS.md: no "queryType" line in the plugin query section');
  return match[1].split('|').map((s) => s.trim());
}

const sdkDist = path.dirname(require.resolve('@grafana/grafana-foundation-sdk/dashboard')).replace(/dashboard$/, '');

/**
 * Draft-07 JSON Schema for one type of the foundation SDK, generated from the SDK's own
 * type declarations (the npm package ships types, not the schema files). Objects are closed
 * (additionalProperties false), so a misspelt option fails.
 */
export function sdkSchema(module: string, type: string): Record<string, unknown> & { definitions: Record<string, unknown> } {
  const generator = createGenerator({
    path: path.join(sdkDist, module, 'types.gen.d.ts'),
    tsconfig: path.join(__dirname, 'sdk-schema.tsconfig.json'),
    type,
    skipTypeCheck: true,
    expose: 'export',
    topRef: true,
    additionalProperties: false,
    jsDoc: 'none',
  });
  return generator.createSchema(type) as ReturnType<typeof sdkSchema>;
}

export const newAjv = () => new Ajv({ allErrors: true, strict: false });

export function explain(validate: ValidateFunction, where: string): string {
  return (validate.errors ?? [])
    .slice(0, 8)
    .map((e) => `${where}${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)
    .join('\n');
}

/** Runs a command and returns its combined output and exit status (never throws). */
export function run(cmd: string, args: string[], cwd = repoRoot, env: NodeJS.ProcessEnv = process.env) {
  try {
    const out = execFileSync(cmd, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
    return { status: 0, output: out };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string; message: string };
    return { status: err.status ?? -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}${err.stdout || err.stderr ? '' : err.message}` };
  }
}

/**
 * Gate for tests that drive a Debian tool the bootstrap installs (`npm test` runs it): when the
 * tool is missing they skip with a loud warning naming the package; under CI that is a
 * failure, so CI can never pass with them left out.
 */
export function whenToolPresent(tool: string, debianPackage: string, what: string, versionArgs = ['--version']): jest.It {
  if (run(tool, versionArgs).status === 0) return test;
  if (process.env.CI) throw new Error(`CI must run ${what}, but ${tool} is missing (Debian package "${debianPackage}")`);
  console.warn(`\n!!! SKIPPING ${what}: ${tool} not found (install the Debian package "${debianPackage}")\n`);
  return test.skip;
}
