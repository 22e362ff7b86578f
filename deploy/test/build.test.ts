/**
 * The package for the other architecture: `build.sh --arch arm64` on this (amd64) machine,
 * checked from the outside: the control file says arm64, every ELF file in it is AArch64 (read
 * with readelf here, independently of the build's own check), the per-platform DuckDB binding
 * is arm64's and x64's is absent, and the agent's JavaScript is this checkout's build.
 * Running it needs an arm64 machine, which this is not (and Node.js for arm64 is not
 * available from the registries here): the amd64 package is the one run, by package.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DEBIAN_DIR, REPO, must, withTool } from './support';

const dir = mkdtempSync(join(tmpdir(), 'fm-deploy-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function files(root: string): string[] {
  return readdirSync(root, { withFileTypes: true }).flatMap((e) => {
    const p = join(root, e.name);
    return e.isDirectory() ? files(p) : e.isFile() ? [p] : [];
  });
}

const isElf = (file: string) => statSync(file).size >= 4 && readFileSync(file).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));

function unpack(arch: string): string {
  const deb = must('bash', [join(DEBIAN_DIR, 'build.sh'), '--arch', arch, '--out', join(dir, 'deb')], { timeoutMs: 600_000 }).trim().split('\n').pop()!;
  expect(must('dpkg-deb', ['-f', deb, 'Architecture']).trim()).toBe(arch);
  const tree = join(dir, arch);
  must('dpkg-deb', ['-x', deb, tree]);
  return tree;
}

withTool('aarch64-linux-gnu-g++', 'the arm64 package build (cross compiler)')(
  'built for arm64 on amd64, every native file is AArch64 and the JavaScript is this checkout\'s',
  () => {
    if (must('dpkg', ['--print-architecture']).trim() !== 'amd64') return; // the cross direction tested here
    const arm = unpack('arm64');
    const lib = join(arm, 'usr/lib/flowmesh-agent');
    const elves = files(lib).filter(isElf);
    expect(elves.length).toBeGreaterThanOrEqual(2); // DuckDB's binding and library, the capture addon
    for (const file of elves) {
      const machine = /Machine:\s+(.+)/.exec(must('readelf', ['-h', file]))?.[1].trim();
      expect([relative(lib, file), machine]).toEqual([relative(lib, file), 'AArch64']);
    }
    const duckdb = readdirSync(join(lib, 'node_modules/@duckdb'));
    expect(duckdb).toContain('node-bindings-linux-arm64');
    expect(duckdb.filter((d) => d.includes('x64'))).toEqual([]);

    // the agent itself is this checkout's build, source maps left out
    const js = (root: string) => files(root).filter((f) => !f.endsWith('.map')).map((f) => [relative(root, f), readFileSync(f, 'utf8')]);
    expect(js(join(lib, 'agent/dist'))).toEqual(js(join(REPO, 'agent/dist')));
  },
  900_000,
);
