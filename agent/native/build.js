#!/usr/bin/env node
/*
 * Builds the capture addon (native/capture.cc + binding.gyp, against the system libpcap).
 *
 *   node native/build.js                 the agent's install and build step: nothing to do when
 *                                        build/Release is newer than the sources, or when there
 *                                        is no build but a prebuilt binary for this machine
 *                                        loads; otherwise compiles with node-gyp
 *   node native/build.js --arch ARCH     a prebuilt binary for linux-ARCH (x64 or arm64), cross-
 *                                        compiled when ARCH is not this machine's, written to
 *                                        prebuilds/linux-ARCH/node.napi.glibc.node (what the
 *                                        loader, node-gyp-build, picks on such a machine)
 *
 * Before compiling it checks what the build needs (a C++ compiler for the target, make,
 * python3, libpcap's headers and library for the target) and names the missing package
 * instead of letting the compiler fail. Run through npm (`npm run build -w agent`,
 * scripts/build-capture-addon.sh) so node-gyp and npm's nodedir setting are found.
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const AGENT = path.resolve(__dirname, '..');
const SOURCES = [path.join(AGENT, 'binding.gyp'), ...fs.readdirSync(__dirname).filter((f) => /\.(cc|h)$/.test(f)).map((f) => path.join(__dirname, f))];
const BUILT = path.join(AGENT, 'build/Release/flowmesh_capture.node');
const PREBUILD_NAME = 'node.napi.glibc.node';
/** Target architectures: Node's name, the GNU triplet of Debian's cross toolchain, the Debian architecture. */
const ARCHES = {
  x64: { triplet: 'x86_64-linux-gnu', debian: 'amd64' },
  arm64: { triplet: 'aarch64-linux-gnu', debian: 'arm64' },
};

function log(message) {
  process.stderr.write(`[capture addon] ${message}\n`);
}

function fail(message) {
  log(`ERROR: ${message}`);
  process.exit(1);
}

function newestSource() {
  return Math.max(...SOURCES.map((f) => fs.statSync(f).mtimeMs));
}

function loads(file) {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  return probe.status === 0;
}

function onPath(command) {
  return (process.env.PATH || '').split(':').some((dir) => dir && fs.existsSync(path.join(dir, command)));
}

/** node-gyp: npm's own copy (npm sets npm_config_node_gyp for scripts it runs), else one installed beside npm or in node_modules. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed as a package
  }
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) fail('node-gyp not found: it ships with npm, so run this through npm (`npm rebuild -w agent`), or install node-gyp');
  return found;
}

/** Checks compiler, make, python3 and libpcap for the target; returns the environment node-gyp builds with. */
function toolchain(arch) {
  const cross = arch !== process.arch;
  const { triplet, debian } = ARCHES[arch];
  const cxx = cross ? `${triplet}-g++` : process.env.CXX || (onPath('c++') ? 'c++' : 'g++');
  const cc = cross ? `${triplet}-gcc` : process.env.CC || (onPath('cc') ? 'cc' : 'gcc');
  const missing = [];
  const [compiler, ...flags] = cxx.split(/\s+/);
  if (!onPath(compiler)) {
    missing.push(cross ? `the cross compiler ${cxx} (Debian: apt-get install g++-${triplet})` : 'a C++ compiler (Debian/Ubuntu: apt-get install build-essential; Fedora: dnf install gcc-c++ make)');
  }
  if (!onPath('make')) missing.push('make (Debian/Ubuntu: apt-get install build-essential)');
  if (!onPath('python3')) missing.push('python3, which node-gyp runs (apt-get install python3)');
  if (missing.length) fail(`cannot compile the capture addon for linux-${arch}; missing: ${missing.join('; ')}`);

  const devPackage = cross
    ? `libpcap0.8-dev:${debian} (Debian: dpkg --add-architecture ${debian} && apt-get update && apt-get install libpcap0.8-dev:${debian})`
    : 'libpcap-dev (Debian/Ubuntu: apt-get install libpcap-dev; Fedora: dnf install libpcap-devel; Alpine: apk add libpcap-dev)';
  const header = spawnSync(compiler, [...flags, '-x', 'c++', '-fsyntax-only', '-'], { input: '#include <pcap/pcap.h>\n', encoding: 'utf8' });
  if (header.status !== 0) fail(`libpcap headers (pcap/pcap.h) not found for linux-${arch}: install ${devPackage}`);
  const library = execFileSync(compiler, [...flags, '-print-file-name=libpcap.so'], { encoding: 'utf8' }).trim();
  if (!path.isAbsolute(library)) fail(`libpcap.so not found for linux-${arch} (the linker needs it): install ${devPackage}`);

  const env = { ...process.env };
  if (cross) Object.assign(env, { CC: cc, CXX: cxx, LINK: cxx, AR: `${triplet}-ar` });
  return env;
}

/**
 * Node's headers: npm's nodedir setting when run by npm, else the ones installed with this node
 * (Debian's and the official tarballs have them), else node-gyp downloads them.
 */
function nodedirArgs(env) {
  if (env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function gyp(args, cwd, env) {
  const run = spawnSync(process.execPath, [nodeGyp(), ...args, ...nodedirArgs(env)], { cwd, env, stdio: 'inherit' });
  if (run.status !== 0) fail(`node-gyp ${args.join(' ')} failed (exit ${run.status ?? run.signal}); its output is above`);
}

/** Compiles into build/Release (the machine's own architecture). */
function buildHere() {
  if (fs.existsSync(BUILT) && fs.statSync(BUILT).mtimeMs >= newestSource() && loads(BUILT)) return;
  if (!fs.existsSync(BUILT)) {
    const prebuilt = path.join(AGENT, 'prebuilds', `linux-${process.arch}`, PREBUILD_NAME);
    if (fs.existsSync(prebuilt) && loads(prebuilt)) {
      log(`using the prebuilt ${path.relative(AGENT, prebuilt)}`);
      return;
    }
  }
  const env = toolchain(process.arch);
  log(`compiling for linux-${process.arch} against ${libpcapOf(env)}`);
  gyp(['rebuild', '--loglevel=warn'], AGENT, env);
  if (!loads(BUILT)) fail(`${BUILT} was built but does not load`);
}

/** Compiles for `arch` in a scratch copy (build/Release stays this machine's) and stores the prebuilt binary. */
function prebuild(arch) {
  if (!ARCHES[arch]) fail(`--arch: one of ${Object.keys(ARCHES).join(', ')}`);
  const env = toolchain(arch);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-addon-'));
  try {
    fs.copyFileSync(path.join(AGENT, 'binding.gyp'), path.join(scratch, 'binding.gyp'));
    fs.cpSync(__dirname, path.join(scratch, 'native'), { recursive: true });
    // binding.gyp asks node for node-addon-api's headers from the scratch folder
    env.NODE_PATH = [path.join(AGENT, 'node_modules'), path.join(AGENT, '../node_modules'), env.NODE_PATH].filter(Boolean).join(':');
    log(`compiling for linux-${arch}${arch === process.arch ? '' : ` with ${env.CXX}`}`);
    gyp(['rebuild', '--loglevel=warn', `--arch=${arch}`], scratch, env);
    const out = path.join(AGENT, 'prebuilds', `linux-${arch}`, PREBUILD_NAME);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.copyFileSync(path.join(scratch, 'build/Release/flowmesh_capture.node'), out);
    if (arch === process.arch && !loads(out)) fail(`${out} was built but does not load`);
    log(`wrote ${out}`);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

function libpcapOf(env) {
  const [compiler, ...flags] = (env.CXX || 'c++').split(/\s+/);
  const found = spawnSync(compiler, [...flags, '-print-file-name=libpcap.so'], { encoding: 'utf8' }).stdout.trim();
  return found ? path.resolve(found) : 'libpcap';
}

const archFlag = process.argv.indexOf('--arch');
if (archFlag >= 0) prebuild(process.argv[archFlag + 1]);
else buildHere();
