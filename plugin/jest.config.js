// force timezone to UTC to allow tests to work regardless of local timezone
process.env.TZ = 'UTC';

const base = require('./.config/jest.config');

module.exports = {
  // Jest configuration provided by Grafana scaffolding
  ...base,
  // Frontend unit tests only (Go tests live in pkg/, browser rendering in scripts/render-check.mjs).
  testMatch: ['<rootDir>/tests/unit/**/*.test.{ts,tsx}'],
  // Editor tests type and click through Grafana's UI components: on a loaded 2-core machine one
  // test can take well over jest's 5 s default, and a timed-out test keeps typing into the next one.
  testTimeout: 30000,
  transform: {
    ...base.transform,
    // Some Grafana dependencies (d3-color 3.1.1) export only .mjs files.
    '^.+\\.mjs$': ['@swc/jest', { jsc: { parser: { syntax: 'ecmascript' } }, module: { type: 'commonjs' } }],
  },
};
