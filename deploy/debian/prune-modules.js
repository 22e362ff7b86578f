#!/usr/bin/env node
/**
 * Leaves in <npm dir>/node_modules only the packages the agent loads at run time: the closure
 * of agent/package.json's dependencies, each resolved the way Node resolves it (the nearest
 * node_modules up from the package that requires it). `npm ci --workspace agent` also installs
 * packages the lock file ties to other workspaces (typescript, @babel/*), which the agent never
 * loads. Prints what it removed.
 *
 *   node prune-modules.js <npm dir>
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(process.argv[2] ?? '.');
const keep = new Set();

function resolveFrom(dir, name) {
  for (let d = dir; d.startsWith(root); d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (d === root) break;
  }
  return undefined;
}

function visit(dir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const required = Object.keys(manifest.dependencies ?? {});
  const optional = [...Object.keys(manifest.optionalDependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})];
  for (const name of [...required, ...optional]) {
    const found = resolveFrom(dir, name);
    if (!found) {
      if (required.includes(name)) throw new Error(`${path.relative(root, dir) || 'agent'} needs ${name}, which is not installed`);
      continue;
    }
    if (!keep.has(found)) {
      keep.add(found);
      visit(found);
    }
  }
}

function packagesUnder(modules) {
  const out = [];
  if (!fs.existsSync(modules)) return out;
  for (const entry of fs.readdirSync(modules)) {
    if (entry.startsWith('.')) continue;
    const p = path.join(modules, entry);
    if (entry.startsWith('@')) {
      for (const scoped of fs.readdirSync(p)) out.push(path.join(p, scoped));
    } else {
      out.push(p);
    }
  }
  return out;
}

function prune(modules) {
  for (const pkg of packagesUnder(modules)) {
    if (keep.has(pkg)) {
      prune(path.join(pkg, 'node_modules'));
    } else {
      fs.rmSync(pkg, { recursive: true, force: true });
      console.log(path.relative(root, pkg));
    }
  }
  for (const entry of fs.existsSync(modules) ? fs.readdirSync(modules) : []) {
    const p = path.join(modules, entry);
    if (entry.startsWith('@') && fs.readdirSync(p).length === 0) fs.rmdirSync(p);
  }
}

visit(path.join(root, 'agent'));
prune(path.join(root, 'node_modules'));
prune(path.join(root, 'agent', 'node_modules'));
