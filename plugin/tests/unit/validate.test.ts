/**
 * scripts/validate.mjs on real zips: a well-formed plugin passes; each broken rule is
 * reported as the validator's analyzer names it, and errors fail the run.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const script = path.resolve(__dirname, '../../scripts/validate.mjs');
const LOGO =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle cx="4" cy="4" r="3" fill="#36c"/></svg>';

let work: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-validate-test-'));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

/** A minimal backend data source package, with `tweak` applied before zipping. */
function makeZip(tweak: (root: string) => void = () => {}, dirName = 'acme-demo-datasource') {
  const root = path.join(work, 'stage', dirName);
  fs.mkdirSync(path.join(root, 'img'), { recursive: true });
  const meta = {
    type: 'datasource', name: 'Demo', id: 'acme-demo-datasource', backend: true, executable: 'gpx_demo',
    info: { version: '1.2.3', logos: { small: 'img/logo.svg', large: 'img/logo.svg' }, screenshots: [] },
    dependencies: { grafanaDependency: '>=12.3.0' },
  }; // prettier-ignore
  fs.writeFileSync(path.join(root, 'plugin.json'), JSON.stringify(meta));
  fs.writeFileSync(path.join(root, 'module.js'), 'define([],function(){return {}})');
  fs.writeFileSync(path.join(root, 'README.md'), '# Demo\n');
  fs.writeFileSync(path.join(root, 'img/logo.svg'), LOGO);
  fs.writeFileSync(path.join(root, 'gpx_demo_linux_amd64'), 'binary');
  fs.chmodSync(path.join(root, 'gpx_demo_linux_amd64'), 0o755);
  tweak(root);
  const zip = path.join(work, 'demo.zip');
  const zipped = spawnSync('zip', ['-q', '-r', zip, dirName], { cwd: path.join(work, 'stage') });
  expect(zipped.status).toBe(0);
  const source = path.join(work, 'source');
  fs.mkdirSync(source, { recursive: true });
  fs.writeFileSync(path.join(source, 'package.json'), JSON.stringify({ version: '1.2.3' }));
  return { zip, source };
}

function validate(zip: string, source: string) {
  const run = spawnSync(process.execPath, [script, zip, '--source', source], { encoding: 'utf8' });
  return { status: run.status, out: run.stdout + run.stderr };
}

describe('validate.mjs', () => {
  it('passes a well-formed package, warning only about screenshots, signature and absent Go source', () => {
    const { zip, source } = makeZip();
    const { status, out } = validate(zip, source);
    expect(out).toContain('0 error(s), 3 warning(s)');
    expect(out).toMatch(/WARNING go-manifest\s+no Go source/);
    expect(out).toMatch(/WARNING screenshots/);
    expect(out).toMatch(/WARNING manifest/);
    expect(status).toBe(0);
  });

  it.each<[string, (root: string) => void, RegExp]>([
    [
      'binary not 0755',
      (r) => fs.chmodSync(path.join(r, 'gpx_demo_linux_amd64'), 0o644),
      /ERROR\s+binarypermissions .*0644 found/,
    ],
    [
      'no binary',
      (r) => fs.rmSync(path.join(r, 'gpx_demo_linux_amd64')),
      /ERROR\s+backendbinary\s+No binary found for executable gpx_demo/,
    ],
    [
      'script in svg',
      (r) => fs.writeFileSync(path.join(r, 'img/logo.svg'), '<svg><script>alert(1)</script></svg>'),
      /ERROR\s+unsafesvg .*Invalid element script/,
    ],
    [
      'event handler in svg',
      (r) => fs.writeFileSync(path.join(r, 'img/logo.svg'), '<svg onload="x()"></svg>'),
      /ERROR\s+unsafesvg .*Invalid attribute onload/,
    ],
    ['standalone debug file', (r) => fs.writeFileSync(path.join(r, 'standalone.txt'), '1'), /ERROR\s+backenddebug/],
    ['missing module.js', (r) => fs.rmSync(path.join(r, 'module.js')), /ERROR\s+modulejs\s+missing module.js/],
    [
      'tracking script',
      (r) => fs.writeFileSync(path.join(r, 'module.js'), '"https://www.google-analytics.com/analytics.js"'),
      /ERROR\s+trackingscripts .*google-analytics.com/,
    ],
    [
      'missing logo file',
      (r) => fs.rmSync(path.join(r, 'img/logo.svg')),
      /ERROR\s+metadatapaths\s+file not in the archive: img\/logo.svg/,
    ],
  ])('reports %s as an error', (_name, tweak, expected) => {
    const { zip, source } = makeZip(tweak);
    const { status, out } = validate(zip, source);
    expect(out).toMatch(expected);
    expect(status).toBe(1);
  });

  it('requires the root directory to be named after the plugin id', () => {
    const { zip, source } = makeZip(() => {}, 'dist-renamed-wrong');
    const { status, out } = validate(zip, source);
    expect(out).toMatch(/ERROR\s+archivename\s+archive should contain a directory named acme-demo-datasource/);
    expect(status).toBe(1);
  });
});
