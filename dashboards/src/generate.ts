/** `npm run -w dashboards generate`: writes every dashboard to dashboards/json/ (checked in). */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DASHBOARDS, render } from './dashboards';

const outDir = path.resolve(__dirname, '..', 'json');
mkdirSync(outDir, { recursive: true });
for (const [file, build] of Object.entries(DASHBOARDS)) {
  writeFileSync(path.join(outDir, file), render(build));
  console.log(`wrote json/${file}`);
}
