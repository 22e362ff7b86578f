/** Config: defaults, file + CLI overrides + FLOWMESH_TOKEN, errors that name the key. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { captureInterfaces, ConfigError, defaultConfig, flowTimeouts, loadConfig, storeOptions } from '../src/config';

const dir = mkdtempSync(join(tmpdir(), 'fm-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('config', () => {
  it('has a documented default for every option', () => {
    const c = defaultConfig();
    expect(c).toEqual({
      node: hostname(),
      log_level: 'info',
      capture: { filter: '', snap_length: 4096, buffer_size_mb: 32, promiscuous: false, buffer_timeout_ms: 100 },
      flows: {
        max_flows: 262144, active_timeout_s: 60, tcp_linger_s: 2,
        idle_timeout_s: { tcp: 300, tcp_unestablished: 30, udp: 60, icmp: 30, other: 60 },
      },
      local_addresses: [],
      inventory: '',
      nat_linking: { mode: 'auto', max_connections: 262144 },
      dns: { enabled: true, cache_size: 100000, min_ttl_s: 60, max_ttl_s: 86400 },
      store: { data_dir: './flowmesh-data', path: '', retention_days: 7, spill_dir: '' },
      http: { listen: '127.0.0.1:9477' },
    });
    expect(storeOptions(c)).toEqual({ path: 'flowmesh-data/flows.duckdb', retentionDays: 7 });
    expect(captureInterfaces(c)).toEqual(['any']);
  });

  it('capture.interfaces: several interfaces; --interface replaces both keys; conflicts are refused', () => {
    expect(captureInterfaces(loadConfig(file('i1.yaml', 'capture: { interface: wg0 }\n'), {}, {}))).toEqual(['wg0']);
    const several = file('i2.yaml', 'capture: { interfaces: [wg0, eth0] }\n');
    expect(captureInterfaces(loadConfig(several, {}, {}))).toEqual(['wg0', 'eth0']);
    // what `run --interface eth1` passes: it wins over either key of the file
    const cli = { 'capture.interface': null, 'capture.interfaces': ['eth1'] };
    expect(captureInterfaces(loadConfig(several, cli, {}))).toEqual(['eth1']);
    expect(captureInterfaces(loadConfig(file('i1.yaml', 'capture: { interface: wg0 }\n'), cli, {}))).toEqual(['eth1']);
    const both = loadConfig(file('i3.yaml', 'capture: { interface: wg0, interfaces: [eth0] }\n'), {}, {});
    expect(() => captureInterfaces(both, 'config i3.yaml')).toThrow(/config i3\.yaml: capture\.interface and capture\.interfaces are both set/);
    expect(() => captureInterfaces(loadConfig(file('i4.yaml', 'capture: { interfaces: [wg0, any] }\n'), {}, {}))).toThrow(/"any" cannot be combined/);
    expect(() => loadConfig(file('i5.yaml', 'capture: { interfaces: [wg0, wg0] }\n'), {}, {})).toThrow(/capture\.interfaces: .*(unique|duplicate)/i);
    expect(() => loadConfig(file('i6.yaml', 'capture: { interfaces: [] }\n'), {}, {})).toThrow(/capture\.interfaces: /);
    expect(() => loadConfig(file('i7.yaml', 'nat_linking: { mode: maybe }\n'), {}, {})).toThrow(/nat_linking\.mode: must be one of auto, on, off/);
  });

  it('merges YAML file, overrides and FLOWMESH_TOKEN (file token wins over env; flags win over both)', () => {
    const p = file('a.yaml', `
node: gw-1
capture: { interface: wg0 }
flows:
  idle_timeout_s: { udp: 120 }
store: { data_dir: /var/lib/flowmesh, batch_size: 500 }
`);
    const c = loadConfig(p, { 'capture.filter': 'udp' }, { FLOWMESH_TOKEN: 'env-token' });
    expect(c.node).toBe('gw-1');
    expect(c.capture).toMatchObject({ interface: 'wg0', filter: 'udp', snap_length: 4096 });
    expect(flowTimeouts(c)).toMatchObject({ udpS: 120, tcpEstablishedS: 300, activeTimeoutS: 60 });
    expect(c.http.token).toBe('env-token');
    expect(storeOptions(c)).toEqual({ path: '/var/lib/flowmesh/flows.duckdb', retentionDays: 7, batchSize: 500 });
    expect(loadConfig(file('b.json', JSON.stringify({ http: { token: 'file-token' } })), {}, { FLOWMESH_TOKEN: 'env' }).http.token).toBe('file-token');
    expect(loadConfig(undefined, { 'http.token': 'flag' }, { FLOWMESH_TOKEN: 'env' }).http.token).toBe('flag');
  });

  it.each([
    ['flows:\n  max_flows: 3\n', /flows\.max_flows: .*16/],
    ['flows:\n  idle_timeout_s: { udpp: 3 }\n', /flows\.idle_timeout_s\.udpp: unknown option/],
    ['bogus: 1\n', /bogus: unknown option/],
    ['log_level: loud\n', /log_level: must be one of fatal, error, warn, info, debug, trace, silent/],
    ['capture: { snap_length: "big" }\n', /capture\.snap_length: /],
    ['dns: { min_ttl_s: 100, max_ttl_s: 10 }\n', /dns\.min_ttl_s: must not exceed/],
    ['- a\n- b\n', /expected a mapping/],
    ['capture: [\n', /config .*bad\.yaml/],
  ])('rejects %j naming the key', (text, message) => {
    const p = file('bad.yaml', text);
    expect(() => loadConfig(p, {}, {})).toThrow(ConfigError);
    expect(() => loadConfig(p, {}, {})).toThrow(message);
  });

  it('reads http.token_file when no token is given otherwise, naming the key when it cannot', () => {
    const tokenFile = file('token', '  s3cret-from-file\n');
    const withFile = file('tf.yaml', `http: { listen: 0.0.0.0:9477, token_file: ${tokenFile} }\n`);
    const c = loadConfig(withFile, {}, {});
    expect(c.http).toEqual({ listen: '0.0.0.0:9477', token: 's3cret-from-file' });
    expect(loadConfig(withFile, {}, { FLOWMESH_TOKEN: 'env' }).http.token).toBe('env');
    expect(loadConfig(withFile, { 'http.token': 'flag' }, {}).http.token).toBe('flag');

    const missing = file('tf-missing.yaml', `http: { token_file: ${join(dir, 'no-token')} }\n`);
    expect(() => loadConfig(missing, {}, {})).toThrow(/tf-missing\.yaml: http\.token_file: cannot read .*no-token: ENOENT/);
    const empty = file('tf-empty.yaml', `http: { token_file: ${file('empty-token', '\n')} }\n`);
    expect(() => loadConfig(empty, {}, {})).toThrow(/http\.token_file: .*empty-token is empty/);
    const both = file('tf-both.yaml', `http: { token: a, token_file: ${tokenFile} }\n`);
    expect(() => loadConfig(both, {}, {})).toThrow(/http\.token_file: set either http\.token or http\.token_file, not both/);
    const spaced = file('tf-spaced.yaml', `http: { token_file: ${file('spaced-token', 'two words\n')} }\n`);
    expect(() => loadConfig(spaced, {}, {})).toThrow(/tf-spaced\.yaml: http\.token_file .*spaced-token: the API token contains whitespace/);
  });

  it('names a missing file', () => {
    expect(() => loadConfig(join(dir, 'nope.yaml'))).toThrow(/config file .*nope\.yaml: cannot read/);
  });
});

describe('documented examples', () => {
  it('the example config file loads and sets what it says', () => {
    const c = loadConfig(join(__dirname, '../src/config/flowmesh.example.yaml'), {}, {});
    expect(c).toMatchObject({ node: 'gw-frankfurt', capture: { interface: 'wg0' }, http: { listen: '0.0.0.0:9477', token: 'change-me' } });
    expect(storeOptions(c).path).toBe('/var/lib/flowmesh/flows.duckdb');
  });
});
