/**
 * The OpenAPI document without a running agent: for `npm run -w agent openapi`, which
 * regenerates the checked-in agent/openapi.json (the plugin's Go tests read that file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { AgentMetrics } from '../metrics';
import { buildHttpApi } from './app';
import { resolveHttpOptions } from './options';

export const OPENAPI_FILE = path.resolve(__dirname, '../../openapi.json');

export async function openapiDocument(): Promise<unknown> {
  const notServing = () => Promise.reject(new Error('documentation only: nothing is served'));
  const { app } = await buildHttpApi({
    options: resolveHttpOptions(),
    backend: { run: notServing, refusal: () => null },
    metrics: new AgentMetrics({ processMetrics: false }),
    version: 'docs',
    info: notServing,
  });
  try {
    return app.swagger();
  } finally {
    await app.close();
  }
}

export const formatOpenapi = (document: unknown) => `${JSON.stringify(document, null, 2)}\n`;

if (require.main === module) {
  openapiDocument()
    .then((document) => {
      fs.writeFileSync(OPENAPI_FILE, formatOpenapi(document));
      console.log(`wrote ${OPENAPI_FILE}`);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
