/** Resource-backed features: template variable values, ad-hoc filter keys and values. */
import { dateTime, DataQueryRequest, DataQueryResponse, toDataFrame } from '@grafana/data';
import { setBackendSrv, setTemplateSrv } from '@grafana/runtime';
import { lastValueFrom, Observable } from 'rxjs';

import { FlowmeshVariableQuery } from '../../src/types';
import { fakeBackendSrv, fakeTemplateSrv, makeDataSource } from './fakeGrafana';

const range = {
  from: dateTime(1_700_000_000_000),
  to: dateTime(1_700_003_600_000),
  raw: { from: 'now-1h', to: 'now' },
};

function setup() {
  const backend = fakeBackendSrv({
    'POST values': (body) => {
      const { dimension } = body as { dimension: string };
      return {
        dimension,
        values: [
          { value: `${dimension}-a`, count: 5 },
          { value: 443, count: 2 },
        ],
        complete: true,
        failed: [],
      };
    },
    'GET dimensions': () => ({ dimensions: ['node', 'src_ip', 'dst_ip'], metrics: ['bytes'] }),
    'GET agents': () => ({ agents: [{ name: 'gw', url: 'http://gw:9477', ok: true, status: 'ok', message: '' }] }),
  });
  setBackendSrv(backend.srv);
  setTemplateSrv(fakeTemplateSrv({ agents: ['gw', 'laptop'], pfx: '10.' }));
  return { ds: makeDataSource(), requests: backend.requests };
}

describe('DataSource resources', () => {
  it('variable support asks POST resources/values with dimension, prefix, agents and the time range', async () => {
    const { ds, requests } = setup();
    const query: FlowmeshVariableQuery = { refId: 'V', dimension: 'src_ip', prefix: '$pfx', agents: ['$agents'] };
    const request = { targets: [query], range, scopedVars: {} } as unknown as DataQueryRequest<FlowmeshVariableQuery>;
    const response = await lastValueFrom(
      (ds.variables as unknown as { query: (r: typeof request) => Observable<DataQueryResponse> }).query(request)
    );
    expect(requests).toEqual([
      {
        method: 'POST',
        url: '/api/datasources/uid/flowmesh/resources/values',
        data: {
          dimension: 'src_ip',
          prefix: '10.',
          agents: ['gw', 'laptop'],
          from: 1_700_000_000_000,
          to: 1_700_003_600_000,
        },
      },
    ]);
    const frame = toDataFrame(response.data[0]);
    expect(frame.fields.map((f) => f.name)).toEqual(['text']);
    expect(frame.fields[0].values).toEqual(['src_ip-a', '443']);
  });

  it('metricFindQuery returns text/value pairs', async () => {
    const { ds } = setup();
    await expect(ds.metricFindQuery({ refId: 'V', dimension: 'node' })).resolves.toEqual([
      { text: 'node-a', value: 'node-a' },
      { text: '443', value: '443' },
    ]);
  });

  it('ad-hoc keys come from GET resources/dimensions', async () => {
    const { ds, requests } = setup();
    await expect(ds.getTagKeys()).resolves.toEqual([
      { text: 'node', value: 'node' },
      { text: 'src_ip', value: 'src_ip' },
      { text: 'dst_ip', value: 'dst_ip' },
    ]);
    expect(requests[0]).toMatchObject({ method: 'GET', url: '/api/datasources/uid/flowmesh/resources/dimensions' });
  });

  it('ad-hoc values come from resources/values, narrowed by the other ad-hoc filters', async () => {
    const { ds, requests } = setup();
    const values = await ds.getTagValues({
      key: 'dst_ip',
      timeRange: range,
      filters: [
        { key: 'node', operator: '=', value: 'gw' },
        { key: 'dst_ip', operator: '=', value: 'ignored: same key' },
      ],
    });
    expect(values).toEqual([
      { text: 'dst_ip-a', value: 'dst_ip-a' },
      { text: '443', value: 443 },
    ]);
    expect(requests[0].data).toEqual({
      dimension: 'dst_ip',
      filters: [{ field: 'node', op: 'eq', value: 'gw' }],
      from: 1_700_000_000_000,
      to: 1_700_003_600_000,
    });
  });

  it('asks nothing for keys the agents do not know', async () => {
    const { ds, requests } = setup();
    await expect(ds.getTagValues({ key: 'job', filters: [] })).resolves.toEqual([]);
    expect(requests).toHaveLength(0);
  });
});
