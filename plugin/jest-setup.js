// Jest setup provided by Grafana scaffolding
import './.config/jest-setup';

// i18next (via @grafana/i18n) prints an advertisement on init; keep test output readable.
const consoleInfo = console.info;
console.info = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('i18next is made possible')) {
    return;
  }
  consoleInfo(...args);
};
