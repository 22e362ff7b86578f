#!/usr/bin/env node
/**
 * Offline checks of the packaged plugin zip, one per local-only analyzer of Grafana's
 * plugin-validator (github.com/grafana/plugin-validator, pkg/analysis/passes/*), with the
 * same names, rules and severities.
 *
 * Why a re-implementation: the validator itself cannot be fetched here. The Go module proxy
 * answers 403 for github.com/grafana/plugin-validator, and its npm wrapper
 * (@grafana/plugin-validator) downloads the binary from GitHub releases. When it is
 * reachable, run the real one as well:
 *   go run github.com/grafana/plugin-validator/pkg/cmd/plugincheck2@latest -sourceCodeUri file://$PWD ZIP
 *
 * Usage: node scripts/validate.mjs [ZIP] [--source DIR]
 *   ZIP defaults to artifacts/<id>-<version>.zip; DIR (the plugin source, for go-manifest and
 *   packagejson) defaults to the plugin folder. Exit 1 when any analyzer reports an error.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const pluginDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const args = { zip: undefined, source: pluginDir };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--source') {
      args.source = path.resolve(argv[++i] ?? '');
    } else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: node scripts/validate.mjs [ZIP] [--source DIR]');
      process.exit(0);
    } else {
      args.zip = path.resolve(argv[i]);
    }
  }
  if (!args.zip) {
    const { id } = JSON.parse(fs.readFileSync(path.join(pluginDir, 'src/plugin.json'), 'utf8'));
    const { version } = JSON.parse(fs.readFileSync(path.join(pluginDir, 'package.json'), 'utf8'));
    args.zip = path.join(pluginDir, 'artifacts', `${id}-${version}.zip`);
  }
  return args;
}

/** Files under dir (relative paths), skipping the given folder names. */
function walk(dir, skip = new Set()) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) {
      continue;
    }
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      out.push(...walk(full, skip).map((p) => path.join(entry.name, p)));
    } else if (entry.isFile()) {
      out.push(entry.name);
    }
  }
  return out;
}

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// --- svgvalidate (plugin-validator pkg/svgvalidate): forbidden elements, on* attributes ---
const SVG_FORBIDDEN = new Set([
  'annotation-xml', 'audio', 'colgroup', 'iframe', 'math', 'mi', 'mn', 'mo', 'ms', 'mtext', 'noembed',
  'noframes', 'noscript', 'plaintext', 'script', 'template', 'thead', 'xmp',
]); // prettier-ignore
function svgProblem(text) {
  const withoutComments = text.replace(/<!--[\s\S]*?-->/g, '');
  for (const tag of withoutComments.matchAll(/<\/?([A-Za-z_][\w:.-]*)([^>]*)>/g)) {
    const local = tag[1].split(':').pop();
    if (SVG_FORBIDDEN.has(local)) {
      return `Invalid element ${local}`;
    }
    for (const attr of tag[2].matchAll(/([^\s=/]+)\s*=/g)) {
      if (attr[1].toLowerCase().startsWith('on')) {
        return `Invalid attribute ${attr[1]}`;
      }
    }
  }
  return undefined;
}

// --- trackingscripts: a subset of the validator's block list (the well-known analytics hosts) ---
const TRACKERS = [
  'google-analytics.com', 'googletagmanager.com', 'analytics.google.com', 'segment.io', 'segment.com/analytics',
  'cdn.segment.com', 'hotjar.com', 'mixpanel.com', 'amplitude.com', 'heap.io', 'heapanalytics.com',
  'fullstory.com', 'newrelic.com', 'nr-data.net', 'doubleclick.net', 'facebook.net', 'connect.facebook',
  'matomo.cloud', 'plausible.io', 'clarity.ms', 'intercom.io', 'hubspot.com', 'bat.bing.com', 'quantserve.com',
]; // prettier-ignore

function analyze(root, archiveEntries, source) {
  const findings = []; // { analyzer, severity: 'error' | 'warning' | 'ok', message }
  const report = (analyzer, severity, message) => findings.push({ analyzer, severity, message });

  // archive
  if (archiveEntries.length === 0) {
    report('archive', 'error', 'Archive is empty');
    return findings;
  }
  if (archiveEntries.length !== 1) {
    report(
      'archive',
      'error',
      `Archive should contain only one directory named after the plugin id; found ${archiveEntries.length} entries`
    );
    return findings;
  }
  const top = path.join(root, archiveEntries[0]);
  if (!fs.statSync(top).isDirectory()) {
    report('archive', 'error', 'Archive should contain a single root directory; found a file');
    return findings;
  }
  if (fs.existsSync(path.join(top, 'dist'))) {
    report('archive', 'error', 'dist should be renamed to plugin id and moved to root');
    return findings;
  }
  report('archive', 'ok', `single root directory ${archiveEntries[0]}/`);
  const dir = top;
  const files = walk(dir);

  // metadata
  let meta;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, 'plugin.json'), 'utf8'));
    report('metadata', 'ok', 'plugin.json parses');
  } catch (err) {
    report('metadata', 'error', `missing or invalid plugin.json: ${err.message}`);
    return findings;
  }

  // nestedmetadata
  const metas = new Map();
  for (const f of files.filter((f) => path.basename(f) === 'plugin.json')) {
    try {
      metas.set(f, JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
    } catch (err) {
      report('nestedmetadata', 'error', `${f}: ${err.message}`);
    }
  }
  report('nestedmetadata', 'ok', `${metas.size} plugin.json file(s)`);

  // archivename
  if (meta.id && archiveEntries[0] !== meta.id) {
    report('archivename', 'error', `archive should contain a directory named ${meta.id}`);
  } else {
    report('archivename', 'ok', `directory named ${meta.id}`);
  }

  // pluginname / typesuffix
  if (!meta.name || meta.name.trim() === '' || meta.name === meta.id) {
    report('pluginname', 'error', 'plugin.json name should be a human-friendly name, not empty or the id');
  } else {
    report('pluginname', 'ok', `name "${meta.name}"`);
  }
  const suffix = `-${meta.type}`;
  if (!meta.id?.endsWith(suffix)) {
    report('typesuffix', 'error', `plugin id should end with ${suffix}`);
  } else {
    report('typesuffix', 'ok', `id ends with ${suffix}`);
  }

  // logos / metadatapaths / screenshots
  const logos = meta.info?.logos ?? {};
  for (const size of ['small', 'large']) {
    if (!logos[size] || logos[size].trim() === '') {
      report('logos', 'error', `plugin.json: invalid empty ${size} logo path`);
    }
  }
  if (logos.small && logos.large) {
    report('logos', 'ok', `small ${logos.small}, large ${logos.large}`);
  }
  const screenshots = meta.info?.screenshots ?? [];
  if (screenshots.length === 0) {
    report('screenshots', 'warning', 'plugin.json: should include screenshots for the Plugin catalog');
  } else {
    report('screenshots', 'ok', `${screenshots.length} screenshot(s)`);
  }
  const paths = [logos.small, logos.large, ...screenshots.map((s) => s.path)].filter(Boolean);
  let pathProblems = 0;
  for (const p of paths) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(p)) {
      report('metadatapaths', 'error', `path should be relative to plugin.json: ${p}`);
    } else if (p.startsWith('.') || p.startsWith('/')) {
      report('metadatapaths', 'error', `relative path should not start with '.' or '/': ${p}`);
    } else if (!fs.existsSync(path.join(dir, p))) {
      report('metadatapaths', 'error', `file not in the archive: ${p}`);
    } else {
      continue;
    }
    pathProblems++;
  }
  if (pathProblems === 0) {
    report('metadatapaths', 'ok', `${paths.length} path(s) relative and present`);
  }

  // modulejs / readme
  if (!fs.existsSync(path.join(dir, 'module.js'))) {
    report('modulejs', 'error', 'missing module.js');
  } else {
    report('modulejs', 'ok', 'module.js present');
  }
  const readmePath = path.join(dir, 'README.md');
  if (!fs.existsSync(readmePath)) {
    report('readme', 'error', 'missing README.md');
  } else if (
    /This README file is going to be the one displayed on the Grafana\.com website/.test(
      fs.readFileSync(readmePath, 'utf8')
    )
  ) {
    report('readme', 'warning', 'README.md is still the create-plugin template');
  } else {
    report('readme', 'ok', 'README.md present');
  }

  // restrictivedep
  const dep = meta.dependencies?.grafanaDependency ?? '';
  if (/^[0-9]+.[0-9]+.x$/.test(dep)) {
    report('restrictivedep', 'warning', `plugin only targets patch releases of Grafana ${dep.replace(/\.x$/, '')}`);
  } else if (/^[0-9]+.[0-9]+.[0-9]+$/.test(dep)) {
    report('restrictivedep', 'warning', `plugin only targets Grafana ${dep}`);
  } else {
    report('restrictivedep', 'ok', `grafanaDependency ${dep || '(none)'}`);
  }

  // backendbinary / binarypermissions / backenddebug (for every plugin.json)
  for (const [jsonPath, data] of metas) {
    const base = path.join(dir, path.dirname(jsonPath));
    if (data.backend && !data.executable) {
      report('backendbinary', 'error', `${jsonPath}: backend is true but no executable is defined`);
      continue;
    }
    if (!data.backend && data.executable) {
      report('backendbinary', 'error', `${jsonPath}: executable ${data.executable} defined but backend is not true`);
      continue;
    }
    if (!data.executable) {
      continue;
    }
    const exeDir = path.join(base, path.dirname(data.executable));
    const exeName = path.basename(data.executable);
    const binaries = fs.existsSync(exeDir) ? walk(exeDir).filter((f) => path.basename(f).startsWith(exeName)) : [];
    if (binaries.length === 0) {
      report('backendbinary', 'error', `No binary found for executable ${data.executable} defined in ${jsonPath}`);
      report('binarypermissions', 'error', `No binary found for executable ${data.executable} defined in ${jsonPath}`);
      continue;
    }
    report('backendbinary', 'ok', binaries.map((b) => path.basename(b)).join(', '));
    let bad = 0;
    for (const b of binaries.filter((b) => path.extname(b) !== '.exe')) {
      const mode = fs.statSync(path.join(exeDir, b)).mode & 0o777;
      if (mode !== 0o755) {
        bad++;
        report(
          'binarypermissions',
          'error',
          `Permissions for binary executable ${path.basename(b)} are incorrect (${mode.toString(8).padStart(4, '0')} found, 0755 required)`
        );
      }
    }
    if (bad === 0) {
      report('binarypermissions', 'ok', 'executables are 0755');
    }
  }
  const debugFiles = files.filter((f) => ['standalone.txt', 'pid.txt'].includes(path.basename(f)));
  if (debugFiles.length > 0) {
    debugFiles.forEach((f) => report('backenddebug', 'error', `found standalone backend file ${f}`));
  } else {
    report('backenddebug', 'ok', 'no standalone.txt / pid.txt');
  }

  // go-manifest (backend plugins with Go source)
  if (meta.backend) {
    const goFiles = fs.existsSync(source)
      ? walk(source, new Set(['node_modules', 'dist', 'artifacts', '.git'])).filter((f) => f.endsWith('.go'))
      : [];
    if (goFiles.length === 0) {
      report('go-manifest', 'warning', `no Go source under ${source}; manifest not checked`);
    } else if (!fs.existsSync(path.join(dir, 'go_plugin_build_manifest'))) {
      report('go-manifest', 'warning', 'Could not find or parse Go manifest file');
    } else {
      const manifest = new Map();
      for (const line of fs.readFileSync(path.join(dir, 'go_plugin_build_manifest'), 'utf8').split(/\r?\n/)) {
        if (line.trim() === '') {
          continue;
        }
        const parts = line.split(':');
        if (parts.length !== 2) {
          report('go-manifest', 'warning', `invalid line in manifest file: ${line}`);
          return findings;
        }
        manifest.set(parts[1].trim().replace(/\\/g, '/'), parts[0].trim());
      }
      const mismatch = goFiles.find((f) => manifest.get(f.split(path.sep).join('/')) !== sha256(path.join(source, f)));
      const stale = [...manifest.keys()].find((f) => !fs.existsSync(path.join(source, f)));
      if (mismatch || stale) {
        report(
          'go-manifest',
          'warning',
          `The Go build manifest does not match the source code (${mismatch ? `${mismatch} differs` : `${stale} missing`}); rebuild the backend`
        );
      } else {
        report('go-manifest', 'ok', `${manifest.size} Go files match the source`);
      }
    }
  }

  // manifest (signature)
  if (!fs.existsSync(path.join(dir, 'MANIFEST.txt'))) {
    report(
      'manifest',
      'warning',
      'unsigned plugin (no MANIFEST.txt): allow it with GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS'
    );
  } else {
    report('manifest', 'ok', 'MANIFEST.txt present (signature not verified offline)');
  }

  // packagejson: the source package.json version is the one shipped
  const pkgPath = path.join(source, 'package.json');
  if (!fs.existsSync(pkgPath)) {
    report('packagejson', 'warning', `no package.json under ${source}`);
  } else {
    const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
    if (pkg.version !== meta.info?.version) {
      report(
        'packagejson',
        'error',
        `package.json version ${pkg.version} differs from plugin.json info.version ${meta.info?.version}`
      );
    } else {
      report('packagejson', 'ok', `version ${pkg.version}`);
    }
  }

  // trackingscripts
  const scripts = files.filter((f) => f.endsWith('.js'));
  const tracked = [];
  for (const f of scripts) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    TRACKERS.filter((host) => text.includes(host)).forEach((host) => tracked.push(`${f}: ${host}`));
  }
  if (tracked.length > 0) {
    tracked.forEach((t) => report('trackingscripts', 'error', `tracking script found: ${t}`));
  } else {
    report('trackingscripts', 'ok', `${scripts.length} script(s) free of known trackers`);
  }

  // unsafesvg
  const svgs = files.filter((f) => f.endsWith('.svg'));
  let unsafe = 0;
  for (const f of svgs) {
    const problem = svgProblem(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (problem) {
      unsafe++;
      report('unsafesvg', 'error', `SVG file ${f} is unsafe: ${problem}`);
    }
  }
  if (unsafe === 0) {
    report('unsafesvg', 'ok', `${svgs.length} SVG file(s) safe`);
  }
  return findings;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.zip)) {
    console.error(`validate: ${args.zip} not found; run npm run package -w plugin first`);
    process.exit(2);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-validate-'));
  try {
    execFileSync('unzip', ['-q', args.zip, '-d', tmp]);
    const findings = analyze(tmp, fs.readdirSync(tmp), args.source);
    const mark = { ok: 'ok     ', warning: 'WARNING', error: 'ERROR  ' };
    for (const f of findings) {
      console.log(`${mark[f.severity]} ${f.analyzer.padEnd(18)} ${f.message}`);
    }
    const errors = findings.filter((f) => f.severity === 'error').length;
    const warnings = findings.filter((f) => f.severity === 'warning').length;
    console.log(`\n${path.basename(args.zip)}: ${errors} error(s), ${warnings} warning(s)`);
    process.exitCode = errors > 0 ? 1 : 0;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main();
