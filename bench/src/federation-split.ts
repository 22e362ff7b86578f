/**
 * Stored-flow databases for federation as deployed: each mesh node stores its own traffic,
 * so N agents together hold what one agent would hold alone. The store benchmark's database
 * is split into N shares by rid modulo N (every record in exactly one share); each share is
 * a database of its own, with the agent's schema, the share's raw rows in rid order, its
 * per-minute rollups built by the agent's own roll-up statement, and the roll-up watermark of
 * the source (every row below it is rolled up). The 1-of-1 share goes through the same steps,
 * so one agent and N agents read databases built the same way. Shares are cached next to
 * the source and rebuilt when the source is.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { log } from './log';
import { AGENT_DIST, REPO_ROOT } from './paths';

/** The parts of the agent's schema module (agent/dist/store/schema.js) used here. */
interface AgentSchema {
  ENUM_TYPES: Record<string, readonly string[]>;
  typeDdl(missing: readonly string[]): string[];
  tableDdl(): string[];
  ROLLUP_INSERT_SQL: string;
}

/** DuckDB as the agent resolves it, so the files are in the format the agent reads. */
function agentRequire<T>(id: string): T {
  return createRequire(join(REPO_ROOT, 'agent/package.json'))(id) as T;
}

async function run(connection: DuckDBConnection, sql: string, values?: (number | bigint)[]): Promise<void> {
  await connection.run(sql, values);
}

async function buildShare(source: string, target: string, shares: number, index: number): Promise<number> {
  const schema = agentRequire<AgentSchema>(join(AGENT_DIST, 'store/schema.js'));
  const { DuckDBInstance: Instance } = agentRequire<{ DuckDBInstance: typeof DuckDBInstance }>('@duckdb/node-api');
  rmSync(target, { force: true });
  rmSync(`${target}.wal`, { force: true });
  const instance = await Instance.create(target);
  const connection = await instance.connect();
  try {
    for (const sql of [...schema.typeDdl(Object.keys(schema.ENUM_TYPES)), ...schema.tableDdl()]) await run(connection, sql);
    await run(connection, `ATTACH '${source.replaceAll("'", "''")}' AS src (READ_ONLY)`);
    await run(connection, 'DELETE FROM flowmesh_meta');
    await run(connection, 'INSERT INTO flowmesh_meta SELECT * FROM src.flowmesh_meta');
    await run(connection, 'DELETE FROM rollup_state');
    await run(connection, 'INSERT INTO rollup_state SELECT * FROM src.rollup_state');
    await run(connection, `INSERT INTO flows SELECT * FROM src.flows WHERE rid % ${shares} = ${index} ORDER BY rid`);
    const watermark = Number((await connection.runAndReadAll('SELECT rid FROM rollup_state')).getRows()[0][0]);
    await run(connection, schema.ROLLUP_INSERT_SQL, [0, watermark]);
    const rows = Number((await connection.runAndReadAll('SELECT count(*) FROM flows')).getRows()[0][0]);
    await run(connection, 'DETACH src');
    await run(connection, 'CHECKPOINT');
    return rows;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * The N share databases of `source` (built when missing or older than the source's
 * `complete` marker, whose text identifies the source's build), with their record counts.
 */
export async function shareDatabases(source: string, sourceMarker: string, dir: string, shares: number): Promise<{ path: string; records: number }[]> {
  const built = readFileSync(sourceMarker, 'utf8');
  const out: { path: string; records: number }[] = [];
  for (let index = 0; index < shares; index++) {
    const path = join(dir, `share-${index + 1}-of-${shares}.duckdb`);
    const marker = `${path}.complete`;
    if (existsSync(path) && existsSync(marker)) {
      const done = JSON.parse(readFileSync(marker, 'utf8')) as { source: string; records: number };
      if (done.source === built) {
        out.push({ path, records: done.records });
        continue;
      }
    }
    log.step(`federation: building share ${index + 1} of ${shares}`);
    rmSync(marker, { force: true });
    const records = await buildShare(source, path, shares, index);
    writeFileSync(marker, JSON.stringify({ source: built, records }));
    out.push({ path, records });
  }
  return out;
}
