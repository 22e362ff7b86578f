/** The mesh lab topology: every designed path works (and the designed failures fail) before any agent watches it. */
import { buildMeshLab, type MeshLab } from '../src/mesh';
import { startServices, trafficRound } from '../src/mesh-traffic';
import { Lab } from '../src/netns';
import { runSync } from '../src/run';
import { describePrivileged } from './privileged';

describePrivileged('mesh lab topology', () => {
  let mesh: MeshLab;

  beforeAll(async () => {
    mesh = buildMeshLab(new Lab());
    await startServices(mesh, 30_000);
  });
  afterAll(() => mesh?.lab.destroy());

  test('one round of the traffic mix behaves as designed', async () => {
    const outcomes = await trafficRound(mesh);
    expect(outcomes.filter((o) => !o.ok)).toEqual([]);
    expect(outcomes).toHaveLength(8);
  });

  test('the root namespace reaches every member on the underlay', () => {
    expect(runSync('ip', ['route', 'get', mesh.byName('gw').underlayIp])).toContain(`fm-${mesh.lab.id}-host`);
  });

  test('tear-down removes the root-namespace link too', () => {
    const id = mesh.lab.id;
    expect(mesh.lab.destroy()).toEqual([]);
    expect(runSync('ip', ['-br', 'link']).includes(`fm-${id}-`)).toBe(false);
    expect(runSync('ip', ['netns', 'list']).includes(`fm-${id}-`)).toBe(false);
  });
});
