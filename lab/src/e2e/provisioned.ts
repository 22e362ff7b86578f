/**
 * The Flowmesh data source exactly as provisioned (provisioning/grafana/datasources/*.yaml),
 * read the way Grafana's provisioning reads it: environment variables in values expanded
 * (`$VAR`, `${VAR}`; `$$` is a literal `$`), then handed to the plugin as jsonData and
 * decrypted secureJsonData. Only the agent list is replaced, by the agents actually running
 * (the shipped file names the compose services).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import type { DataSourceSettings } from './plugin-backend';

export const DATASOURCE_DIR = resolve(__dirname, '..', '..', '..', 'provisioning', 'grafana', 'datasources');
const PLUGIN_TYPE = 'flowmesh-flows-datasource';

/** Grafana's provisioning interpolation of environment variables in one string. */
export function expandEnv(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\$|\$\{(\w+)\}|\$(\w+)/g, (match, braced: string | undefined, bare: string | undefined) =>
    match === '$$' ? '$' : (env[braced ?? bare ?? ''] ?? ''),
  );
}

function expandAll(value: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof value === 'string') return expandEnv(value, env);
  if (Array.isArray(value)) return value.map((v) => expandAll(v, env));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandAll(v, env)]));
  return value;
}

export interface ProvisionedDataSource {
  uid: string;
  name: string;
  settings: DataSourceSettings;
}

/** The provisioned Flowmesh data source with `agents` in place of the file's agent list. */
export function provisionedDataSource(
  agents: { name: string; url: string }[], env: Record<string, string | undefined>, dir = DATASOURCE_DIR,
): ProvisionedDataSource {
  const found = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) => ((parse(readFileSync(join(dir, f), 'utf8')) as { datasources?: Record<string, unknown>[] }).datasources ?? []))
    .filter((d) => d.type === PLUGIN_TYPE);
  if (found.length !== 1) throw new Error(`${dir}: ${found.length} data sources of type ${PLUGIN_TYPE}, expected one`);
  const ds = expandAll(found[0], env) as { uid: string; name: string; jsonData?: Record<string, unknown>; secureJsonData?: Record<string, string> };
  return {
    uid: ds.uid,
    name: ds.name,
    settings: { jsonData: { ...(ds.jsonData ?? {}), agents }, secureJsonData: ds.secureJsonData ?? {} },
  };
}
