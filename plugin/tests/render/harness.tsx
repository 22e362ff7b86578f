/**
 * Browser harness for scripts/render-check.mjs: renders the config and query editors with
 * canned backend resources, outside Grafana, so a real Chromium can lay them out.
 */
import React, { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { DataSourceSettings, createTheme, dateTime } from '@grafana/data';
import { BackendSrv, setBackendSrv, setTemplateSrv, TemplateSrv } from '@grafana/runtime';
import { GlobalStyles, ThemeContext } from '@grafana/ui';
import { of } from 'rxjs';

import { ConfigEditor } from '../../src/components/ConfigEditor';
import { QueryEditor } from '../../src/components/QueryEditor';
import { DataSource } from '../../src/datasource';
import { FlowmeshOptions, FlowmeshQuery, FlowmeshSecureJsonData } from '../../src/types';

const canned: Record<string, unknown> = {
  agents: { agents: [{ name: 'gateway', url: 'http://10.0.0.1:9477', ok: true, status: 'ok', message: '' }] },
  values: { dimension: 'dst_ip', values: [{ value: '10.0.0.2', count: 9 }, { value: '1.1.1.1', count: 3 }], complete: true, failed: [] },
  dimensions: { dimensions: ['node', 'src_ip', 'dst_ip'] },
}; // prettier-ignore
setBackendSrv({
  fetch: (req: { url: string }) => of({ data: canned[req.url.split('/resources/')[1]], status: 200, ok: true }),
} as unknown as BackendSrv);
setTemplateSrv({ replace: (t?: string) => t ?? '' } as unknown as TemplateSrv);

const datasource = new DataSource({
  id: 1, uid: 'flowmesh', type: 'flowmesh-flows-datasource', name: 'Flowmesh', jsonData: {},
  meta: { id: 'flowmesh-flows-datasource', info: {} },
} as never); // prettier-ignore

function Config() {
  const [options, setOptions] = useState({
    jsonData: {
      agents: [
        { name: 'gateway', url: 'http://10.0.0.1:9477' },
        { name: 'gateway', url: 'ftp://x' },
      ],
      timeoutMs: 10000,
    },
    secureJsonFields: { token: true },
  } as unknown as DataSourceSettings<FlowmeshOptions, FlowmeshSecureJsonData>);
  return <ConfigEditor options={options} onOptionsChange={setOptions} />;
}

function Query() {
  const [query, setQuery] = useState<FlowmeshQuery>({
    refId: 'A', queryType: 'top', groupBy: ['src_ip', 'dst_ip'], metric: 'bytes', limit: 10,
    filters: [
      { field: 'conn_state', op: 'in', values: ['S0'] },
      { field: 'dst_ip', op: 'cidr', value: '10.0.0.0/8' },
      { field: 'dst_port', op: 'range', min: 1000, max: 2000 },
      { field: 'tcp_flags', op: 'has_all', flags: ['SYN', 'RST'] },
      { field: 'bytes', op: 'gt', value: 1000 },
    ],
  }); // prettier-ignore
  const range = { from: dateTime().subtract(1, 'h'), to: dateTime(), raw: { from: 'now-1h', to: 'now' } };
  return <QueryEditor datasource={datasource} query={query} onChange={setQuery} onRunQuery={() => {}} range={range} />;
}

const which = new URLSearchParams(window.location.search).get('editor');
createRoot(document.getElementById('root')!).render(
  <ThemeContext.Provider value={createTheme({ colors: { mode: 'dark' } })}>
    <GlobalStyles />
    <div style={{ padding: 16 }}>{which === 'config' ? <Config /> : <Query />}</div>
  </ThemeContext.Provider>
);
