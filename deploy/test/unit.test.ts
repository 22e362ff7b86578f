/**
 * The systemd unit and the packaged configuration, without installing anything:
 * `systemd-analyze verify` (any warning fails; a misspelt directive is the negative control),
 * the privileges and sandbox the unit gives the agent, and the packaged agent.yaml loaded by
 * the agent's own config loader. The installed unit is verified again, and run, by
 * package.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../agent/src/config';
import { DEBIAN_DIR, UNIT_FILE, capabilityNames, directive, readUnit, run, unitCommand, withTool } from './support';

const dir = mkdtempSync(join(tmpdir(), 'fm-deploy-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The unit with ExecStart pointing at a stub executable: verify checks that the command exists. */
function unitWithStub(text: string, name: string): string {
  const stub = join(dir, 'flowmesh-agent');
  writeFileSync(stub, '#!/bin/sh\nexit 0\n');
  chmodSync(stub, 0o755);
  const path = join(dir, name);
  writeFileSync(path, text.replace('ExecStart=/usr/bin/flowmesh-agent', `ExecStart=${stub}`));
  return path;
}

const verify = (path: string) => run('systemd-analyze', ['verify', path]);

describe('systemd unit', () => {
  const text = readFileSync(UNIT_FILE, 'utf8');
  const unit = readUnit();

  withTool('systemd-analyze', 'systemd-analyze verify')('systemd-analyze verify accepts it without a single warning', () => {
    const ok = verify(unitWithStub(text, 'flowmesh-agent.service'));
    expect(ok.stderr + ok.stdout).toBe('');
    expect(ok.status).toBe(0);
    // negative control: verify only warns about an unknown directive, so any output fails
    const broken = verify(unitWithStub(text.replace('PrivateTmp=yes', 'PrivatTmp=yes'), 'flowmesh-broken.service'));
    expect(broken.stderr).toMatch(/Unknown key 'PrivatTmp'/);
  });

  it('runs the agent as flowmesh with exactly CAP_NET_RAW and CAP_NET_ADMIN, ambient', () => {
    expect(directive(unit, 'Service', 'User')).toBe('flowmesh');
    expect(directive(unit, 'Service', 'Group')).toBe('flowmesh');
    expect(capabilityNames(directive(unit, 'Service', 'AmbientCapabilities'))).toEqual(['net_admin', 'net_raw']);
    expect(capabilityNames(directive(unit, 'Service', 'CapabilityBoundingSet'))).toEqual(['net_admin', 'net_raw']);
    expect(directive(unit, 'Service', 'NoNewPrivileges')).toBe('yes');
    expect(directive(unit, 'Service', 'ExecStart')).toBe('/usr/bin/flowmesh-agent run --config /etc/flowmesh/agent.yaml');
    expect(unitCommand(unit).argv.slice(0, 8)).toEqual([
      'setpriv', '--reuid=flowmesh', '--regid=flowmesh', '--init-groups', '--inh-caps=-all,+net_admin,+net_raw',
      '--ambient-caps=-all,+net_admin,+net_raw', '--bounding-set=-all,+net_admin,+net_raw', '--no-new-privs',
    ]);
  });

  it('is sandboxed and still allows packet and netlink sockets', () => {
    for (const [key, value] of Object.entries({
      ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', PrivateDevices: 'yes',
      ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectControlGroups: 'yes', RestrictNamespaces: 'yes',
      StateDirectory: 'flowmesh', SystemCallArchitectures: 'native',
    })) {
      expect([key, directive(unit, 'Service', key)]).toEqual([key, value]);
    }
    const families = directive(unit, 'Service', 'RestrictAddressFamilies').split(/\s+/);
    expect(families).toEqual(expect.arrayContaining(['AF_PACKET', 'AF_NETLINK', 'AF_INET', 'AF_INET6', 'AF_UNIX']));
    expect(unit.Service.MemoryDenyWriteExecute).toBeUndefined(); // V8 needs writable executable memory
    // the suggested spill directory is writable once it exists ('-': no error while it does not)
    const spill = /^\s+#spill_dir: (\S+)/m.exec(readFileSync(join(DEBIAN_DIR, 'agent.yaml'), 'utf8'))?.[1];
    expect(directive(unit, 'Service', 'ReadWritePaths')).toBe(`-${spill}`);
  });

  it('restarts on failure but not on a configuration error, and leaves room for the final flush', () => {
    expect(directive(unit, 'Service', 'Restart')).toBe('on-failure');
    expect(directive(unit, 'Service', 'RestartPreventExitStatus')).toBe('2'); // the agent's configuration / capability exit code
    const stop = /^(\d+)s$/.exec(directive(unit, 'Service', 'TimeoutStopSec'));
    // the default http.shutdown_grace_ms (5 s) for running queries, then the flush and checkpoint
    expect(Number(stop?.[1])).toBeGreaterThanOrEqual(60);
    expect(directive(unit, 'Install', 'WantedBy')).toBe('multi-user.target');
  });
});

describe('packaged configuration /etc/flowmesh/agent.yaml', () => {
  it("is valid for the agent's config loader and matches the unit (state directory, token file)", () => {
    const token = join(dir, 'token');
    writeFileSync(token, 'generated-at-install\n');
    const packaged = readFileSync(join(DEBIAN_DIR, 'agent.yaml'), 'utf8');
    expect(packaged).toContain('token_file: /etc/flowmesh/token');
    const copy = join(dir, 'agent.yaml');
    writeFileSync(copy, packaged.replaceAll('/etc/flowmesh/token', token));
    const config = loadConfig(copy, {}, {});
    expect(config.capture.interface).toBe('any');
    expect(config.store.data_dir).toBe(`/var/lib/${directive(readUnit(), 'Service', 'StateDirectory')}`);
    expect(config.http).toEqual({ listen: '0.0.0.0:9477', token: 'generated-at-install' });
  });

  it('the maintainer scripts are valid sh', () => {
    for (const script of ['postinst', 'prerm', 'postrm']) {
      const r = run('sh', ['-n', join(DEBIAN_DIR, script)]);
      expect([script, r.status, r.stderr]).toEqual([script, 0, '']);
    }
  });
});
