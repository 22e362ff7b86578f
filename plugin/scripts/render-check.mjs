#!/usr/bin/env node
/**
 * Renders the config and query editors in headless Chromium (outside Grafana) and saves
 * screenshots: a layout smoke check. Bundles tests/render/harness.tsx with webpack (React
 * and @grafana/* included, unlike the plugin build), opens it with playwright-core against
 * the system Chromium, fails on page errors.
 *
 *   node scripts/render-check.mjs [OUT_DIR=/tmp]   (CHROMIUM=/usr/bin/chromium by default)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const webpack = require('webpack');
const { chromium } = require('playwright-core');

const pluginDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.resolve(process.argv[2] ?? '/tmp');
const bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmesh-render-'));

function bundle() {
  const config = {
    mode: 'development',
    devtool: false,
    context: pluginDir,
    entry: './tests/render/harness.tsx',
    output: { path: bundleDir, filename: 'harness.js' },
    resolve: { extensions: ['.js', '.jsx', '.ts', '.tsx'] },
    module: {
      rules: [
        {
          test: /\.[tj]sx?$/,
          exclude: /node_modules/,
          use: {
            loader: 'swc-loader',
            options: { jsc: { target: 'es2020', parser: { syntax: 'typescript', tsx: true } } },
          },
        },
        { test: /\.css$/, use: ['style-loader', 'css-loader'] },
        { test: /\.(svg|png|woff2?|ttf|eot)$/, type: 'asset/inline' },
      ],
    },
    performance: { hints: false },
  };
  return new Promise((resolve, reject) =>
    webpack(config, (err, stats) => {
      if (err || stats.hasErrors()) {
        reject(err ?? new Error(stats.toString({ all: false, errors: true })));
      } else {
        resolve();
      }
    })
  );
}

async function main() {
  const started = Date.now();
  await bundle();
  fs.writeFileSync(
    path.join(bundleDir, 'index.html'),
    '<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0;background:#111217"><div id="root"></div><script src="harness.js"></script></body></html>'
  );
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const problems = [];
  try {
    for (const editor of ['config', 'query']) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (e) => problems.push(`${editor}: ${e.message}`));
      await page.goto(`${pathToFileURL(path.join(bundleDir, 'index.html'))}?editor=${editor}`);
      await page.waitForSelector(editor === 'config' ? 'text=Add agent' : 'text=Add filter', { timeout: 30000 });
      await page.waitForTimeout(500);
      const file = path.join(outDir, `flowmesh-${editor}-editor.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.log(`screenshot ${file}`);
      await page.close();
    }
  } finally {
    await browser.close();
    fs.rmSync(bundleDir, { recursive: true, force: true });
  }
  console.log(`render check done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  if (problems.length > 0) {
    console.error(`page errors:\n${problems.join('\n')}`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
