/** Inventory: file formats and validation, longest-prefix lookups, defaults, WireGuard peers (real `wg` output). */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inventory, InventoryError, parseWireGuardDump } from '../src/inventory';
import { parseIp } from '../src/flow/addresses';
import { privileged } from './support/privileged';

const look = (inv: Inventory, ip: string) => {
  const p = parseIp(ip)!;
  return inv.lookup(p.bytes, p.version);
};

const KEY_A = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const KEY_B = 'TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=';

const YAML = `
addresses:
  10.100.0.0/16: { name: mesh, type: node }
  10.100.0.1: { name: gw-1, type: node }
  10.100.7.0/24: { name: lab, type: egress }
  fd00:100::/32: { name: mesh6, type: node }
  fd00:100::1: { name: gw-1, type: node }
  203.0.113.0/24: { name: partner, type: external }
wireguard_peers:
  "${KEY_A}": { name: alice-laptop, type: user }
`;

describe('Inventory', () => {
  const inv = Inventory.parse(YAML, 'inv.yaml');

  it('most specific prefix wins (IPv4 and IPv6)', () => {
    expect(look(inv, '10.100.0.1')).toEqual({ name: 'gw-1', type: 'node' });
    expect(look(inv, '10.100.0.2')).toEqual({ name: 'mesh', type: 'node' });
    expect(look(inv, '10.100.7.9')).toEqual({ name: 'lab', type: 'egress' });
    expect(look(inv, 'fd00:100::1')).toEqual({ name: 'gw-1', type: 'node' });
    expect(look(inv, 'fd00:100:ffff::9')).toEqual({ name: 'mesh6', type: 'node' });
    expect(look(inv, '203.0.113.50')).toEqual({ name: 'partner', type: 'external' });
  });

  it('unmatched: public -> external, private/CGNAT/ULA/link-local -> unknown', () => {
    for (const ip of ['8.8.8.8', '2606:4700::1111', '198.51.100.1', '172.32.0.1', '172.15.255.1', '100.128.0.1', '100.63.0.1', '169.253.1.1', '11.0.0.1', '223.255.255.1']) expect(look(inv, ip)).toEqual({ name: '', type: 'external' });
    for (const ip of ['192.168.1.1', '172.20.0.1', '100.64.1.1', '10.1.1.1', 'fd12::1', 'fe80::1', '169.254.1.1', '127.0.0.1', '224.0.0.251'])
      expect(look(inv, ip)).toEqual({ name: '', type: 'unknown' });
  });

  it('reads JSON files and empty files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fm-inv-'));
    const json = join(dir, 'inv.json');
    writeFileSync(json, JSON.stringify({ addresses: { '10.0.0.0/8': { name: 'corp', type: 'node' } } }));
    expect(look(Inventory.fromFile(json), '10.2.3.4')).toEqual({ name: 'corp', type: 'node' });
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, '');
    expect(look(Inventory.fromFile(empty), '10.2.3.4').type).toBe('unknown');
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['addresses:\n  10.0.0.300: { name: x, type: node }', /addresses: "10.0.0.300" is not an IP address or CIDR prefix/],
    ['addresses:\n  10.0.0.0/33: { name: x, type: node }', /"10.0.0.0\/33" is not an IP/],
    ['addresses:\n  10.0.0.1: { name: x, type: server }', /addresses\["10.0.0.1"\].type: must be one of node, user, external, egress/],
    ['addresses:\n  10.0.0.1: { type: node }', /addresses\["10.0.0.1"\].name: must be a non-empty string/],
    ['addresses:\n  10.0.0.1: { name: a, type: node, color: red }', /unknown field "color"/],
    ['hosts: {}', /unknown key "hosts"/],
    ['wireguard_peers:\n  nope: { name: a, type: user }', /wireguard_peers: "nope" is not a WireGuard public key/],
    ['addresses: [1, 2]', /addresses: expected a mapping/],
    ['addresses: {', /not valid YAML/],
  ])('rejects %j', (text, message) => {
    expect(() => Inventory.parse(text, 'inv.yaml')).toThrow(InventoryError);
    expect(() => Inventory.parse(text, 'inv.yaml')).toThrow(message);
  });

  it('a peer\'s own addresses (host-length allowed IPs) take its name; routes through it (LAN, exits) keep their own', () => {
    const dump = [
      `privkey\t${KEY_B}\t51820\toff`,
      `${KEY_A}\t(none)\t198.51.100.9:51820\t10.200.0.9/32,192.168.9.0/24,0.0.0.0/0,::/0\t0\t0\t0\toff`,
      `${KEY_B}\t(none)\t(none)\t10.200.0.6/32,10.100.7.0/24\t0\t0\t0\toff`,
    ].join('\n');
    const peers = parseWireGuardDump(dump);
    const i = Inventory.parse(YAML, 'inv.yaml');
    expect(i.addWireGuardPeers(peers)).toBe(1);
    expect(look(i, '10.200.0.9')).toEqual({ name: 'alice-laptop', type: 'user' });
    // behind the exit and the LAN route: their own names and types, never the gateway's
    expect(look(i, '8.8.8.8')).toEqual({ name: '', type: 'external' });
    expect(look(i, '2606:4700::1111')).toEqual({ name: '', type: 'external' });
    expect(look(i, '192.168.9.7')).toEqual({ name: '', type: 'unknown' });
    expect(look(i, '10.100.7.9')).toEqual({ name: 'lab', type: 'egress' });
    // ...and the routing peer is the peer whose allowed IPs route the address, longest prefix first
    const routes = i.routesOf(peers);
    const route = (ip: string) => {
      const p = parseIp(ip)!;
      return routes.routeOf(p.bytes, p.version);
    };
    expect(route('8.8.8.8')).toEqual({ name: 'alice-laptop', publicKey: KEY_A });
    expect(route('2606:4700::1111')).toEqual({ name: 'alice-laptop', publicKey: KEY_A });
    expect(route('10.100.7.9')).toEqual({ name: '', publicKey: KEY_B }); // a /24 beats 0.0.0.0/0; KEY_B is not named
    expect(route('10.200.0.6')).toEqual({ name: '', publicKey: KEY_B });
    expect(routes.routeOf(parseIp('fd00::1')!.bytes, 6)).toEqual({ name: 'alice-laptop', publicKey: KEY_A });
    expect(i.routesOf([]).routeOf(parseIp('8.8.8.8')!.bytes, 4)).toBeNull();
  });

  it('names WireGuard peers\' allowed IPs; file entries win at equal prefix', () => {
    const dump = [
      `privkey\t${KEY_B}\t51820\toff`,
      `${KEY_A}\t(none)\t198.51.100.9:51820\t10.200.0.5/32,fd00:200::5/128,10.100.0.1/32\t0\t0\t0\toff`,
      `${KEY_B}\t(none)\t(none)\t10.200.0.6/32\t0\t0\t0\toff`,
    ].join('\n');
    const peers = parseWireGuardDump(dump);
    expect(peers).toEqual([
      { publicKey: KEY_A, allowedIps: ['10.200.0.5/32', 'fd00:200::5/128', '10.100.0.1/32'] },
      { publicKey: KEY_B, allowedIps: ['10.200.0.6/32'] },
    ]);
    const i = Inventory.parse(YAML, 'inv.yaml');
    expect(i.addWireGuardPeers(peers)).toBe(2);
    expect(look(i, '10.200.0.5')).toEqual({ name: 'alice-laptop', type: 'user' });
    expect(look(i, 'fd00:200::5')).toEqual({ name: 'alice-laptop', type: 'user' });
    expect(look(i, '10.100.0.1')).toEqual({ name: 'gw-1', type: 'node' });
    expect(look(i, '10.200.0.6').type).toBe('unknown'); // peer not in the inventory
  });

  privileged('the real wireguard-go interface test').test('parses the dump of a real wireguard-go interface', async () => {
    const ns = `fmh2inv${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    const wgGo = spawn('ip', ['netns', 'exec', ns, 'wireguard-go', '-f', 'wgtest0'], { stdio: 'ignore', env: { ...process.env, WG_PROCESS_FOREGROUND: '1' } });
    try {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        try {
          execFileSync('ip', ['netns', 'exec', ns, 'wg', 'show', 'wgtest0'], { stdio: 'ignore' });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      execFileSync('ip', ['netns', 'exec', ns, 'wg', 'set', 'wgtest0', 'peer', KEY_A, 'allowed-ips', '10.210.0.7/32,fd00:210::7/128']);
      const dump = execFileSync('ip', ['netns', 'exec', ns, 'wg', 'show', 'wgtest0', 'dump'], { encoding: 'utf8' });
      const peers = parseWireGuardDump(dump);
      expect(peers).toEqual([{ publicKey: KEY_A, allowedIps: expect.arrayContaining(['10.210.0.7/32', 'fd00:210::7/128']) }]);
      const i = Inventory.parse(YAML, 'inv.yaml');
      i.addWireGuardPeers(peers);
      expect(look(i, '10.210.0.7')).toEqual({ name: 'alice-laptop', type: 'user' });
    } finally {
      wgGo.kill();
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
});

describe('documented example inventory', () => {
  it('loads and names addresses as documented', () => {
    const inv = Inventory.fromFile(join(__dirname, '../src/inventory/inventory.example.yaml'));
    expect(look(inv, '100.64.0.2')).toEqual({ name: 'gw-paris', type: 'node' });
    expect(look(inv, '100.64.9.9')).toEqual({ name: 'mesh', type: 'node' });
    expect(look(inv, '10.20.3.4')).toEqual({ name: 'office-lan', type: 'egress' });
    expect(inv.peers.get('xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=')).toEqual({ name: 'alice-laptop', type: 'user' });
  });
});
