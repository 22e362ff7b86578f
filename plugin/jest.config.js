// force timezone to UTC to allow tests to work regardless of local timezone
process.env.TZ = 'UTC';

module.exports = {
  // Jest configuration provided by Grafana scaffolding
  ...require('./.config/jest.config'),
  // Frontend unit tests only (Go tests live in pkg/, browser rendering in scripts/render-check.mjs).
  testMatch: ['<rootDir>/tests/unit/**/*.test.{ts,tsx}'],
};
