/**
 * The documented container run (deploy/agent/compose.node.yml), validated offline: no Docker
 * engine exists where this is developed, so Debian's docker-compose checks and resolves the
 * file and the test asserts what the run promises: the host's network (the mesh interface is
 * the host's), only NET_RAW and NET_ADMIN, the package's configuration read-only at the same
 * path, the database in a volume at the configured data directory, a stop grace period as
 * long as the unit's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEBIAN_DIR, REPO, directive, readUnit, run, withTool } from './support';

const COMPOSE = join(REPO, 'deploy', 'agent', 'compose.node.yml');

withTool('docker-compose', 'the container run validation')('the single-node compose file runs the agent on the host network with only NET_RAW and NET_ADMIN', () => {
  const r = run('docker-compose', ['-f', COMPOSE, 'config'], { env: { ...process.env, FLOWMESH_IMAGE: 'flowmesh/agent:test' } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const service = parse(r.stdout).services['flowmesh-agent'];
  expect(service.image).toBe('flowmesh/agent:test');
  expect(service.network_mode).toBe('host');
  expect(service.cap_drop).toEqual(['ALL']);
  expect([...service.cap_add].sort()).toEqual(['NET_ADMIN', 'NET_RAW']);
  expect(service.privileged).toBeUndefined();
  expect(service.security_opt).toEqual(['no-new-privileges:true']);

  // the same configuration file the package installs, at the same path, read-only
  const config = directive(readUnit(), 'Service', 'ExecStart').split(' ');
  const configPath = config[config.indexOf('--config') + 1];
  expect(service.command).toEqual(['run', '--config', configPath]);
  expect(service.volumes).toContain(`/etc/flowmesh:/etc/flowmesh:ro`);
  const dataDir = /^\s+data_dir: (\S+)/m.exec(readFileSync(join(DEBIAN_DIR, 'agent.yaml'), 'utf8'))?.[1];
  expect(service.volumes).toContain(`flowmesh-data:${dataDir}:rw`);

  const grace = (text: string) => Number(/^(\d+)s$/.exec(text)?.[1]);
  expect(grace(service.stop_grace_period)).toBeGreaterThanOrEqual(grace(directive(readUnit(), 'Service', 'TimeoutStopSec')));
});
