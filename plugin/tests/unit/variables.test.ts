/** Variable interpolation and ad-hoc filters, through DataSource.applyTemplateVariables. */
import { setTemplateSrv } from '@grafana/runtime';

import { Filter, FlowmeshQuery } from '../../src/types';
import { fakeTemplateSrv, makeDataSource } from './fakeGrafana';

const ds = makeDataSource();
const apply = (query: Partial<FlowmeshQuery>, adHoc?: Parameters<typeof ds.applyTemplateVariables>[2]) =>
  ds.applyTemplateVariables({ refId: 'A', ...query } as FlowmeshQuery, {}, adHoc);

beforeEach(() => {
  setTemplateSrv(
    fakeTemplateSrv({
      node: 'gw',
      nodes: ['gw', 'laptop'],
      ips: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
      port: '443',
      ports: ['22', '443'],
      net: '10.8.0.0/16',
      minBytes: '1000',
      dim: 'dst_ip',
      metric: 'packets',
      search: 'example.com',
    })
  );
});

describe('applyTemplateVariables', () => {
  it('interpolates single-value variables in every string field, filter values included', () => {
    const out = apply({
      queryType: 'top',
      agents: ['$node'],
      groupBy: ['$dim', 'dst_port'] as never,
      metric: '$metric' as never,
      text: '${search}',
      filters: [
        { field: 'node', op: 'eq', value: '$node' },
        { field: 'dst_ip', op: 'cidr', value: '$net' },
        { field: 'bytes', op: 'gt', value: '$minBytes' as never },
      ],
    });
    expect(out.agents).toEqual(['gw']);
    expect(out.groupBy).toEqual(['dst_ip', 'dst_port']);
    expect(out.metric).toBe('packets');
    expect(out.text).toBe('example.com');
    expect(out.filters).toEqual<Filter[]>([
      { field: 'node', op: 'eq', value: 'gw' },
      { field: 'dst_ip', op: 'cidr', value: '10.8.0.0/16' },
      { field: 'bytes', op: 'gt', value: 1000 },
    ]);
  });

  it('turns eq into in and neq into nin when a variable holds several values', () => {
    const out = apply({
      filters: [
        { field: 'src_ip', op: 'eq', value: '$ips' },
        { field: 'node', op: 'neq', value: '${nodes}' },
      ],
    });
    expect(out.filters).toEqual<Filter[]>([
      { field: 'src_ip', op: 'in', values: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
      { field: 'node', op: 'nin', values: ['gw', 'laptop'] },
    ]);
  });

  it('expands multi-value variables inside in/nin lists, typing ports as numbers, without duplicates', () => {
    const out = apply({
      filters: [
        { field: 'dst_port', op: 'in', values: ['$ports', '443', 8080] },
        { field: 'port', op: 'eq', value: '$port' },
      ],
    });
    expect(out.filters).toEqual<Filter[]>([
      { field: 'dst_port', op: 'in', values: [22, 443, 8080] },
      { field: 'port', op: 'eq', value: 443 },
    ]);
  });

  it('expands multi-value agents to every agent', () => {
    expect(apply({ agents: ['$nodes'] }).agents).toEqual(['gw', 'laptop']);
  });

  it('leaves out filter rows that are still being edited', () => {
    const out = apply({
      filters: [
        { field: 'ip', op: 'eq', value: '' },
        { field: 'conn_state', op: 'in', values: [] },
        { field: 'dst_port', op: 'range', min: 1000, max: 2000 },
      ],
    });
    expect(out.filters).toEqual<Filter[]>([{ field: 'dst_port', op: 'range', min: 1000, max: 2000 }]);
  });

  it('appends ad-hoc filters on known dimensions as eq/neq/in/nin and skips unknown keys', () => {
    const out = apply({ filters: [{ field: 'direction', op: 'eq', value: 'outbound' }] }, [
      { key: 'dst_ip', operator: '=', value: '1.1.1.1' },
      { key: 'src_port', operator: '!=', value: '53' },
      { key: 'node', operator: '=|', value: 'gw', values: ['gw', 'laptop'] },
      { key: 'ip', operator: '!=|', value: '10.0.0.1', values: ['10.0.0.1', '10.0.0.2'] },
      { key: 'job', operator: '=', value: 'prometheus' },
      { key: 'dst_name', operator: '=~', value: 'api.*' },
    ]);
    expect(out.filters).toEqual<Filter[]>([
      { field: 'direction', op: 'eq', value: 'outbound' },
      { field: 'dst_ip', op: 'eq', value: '1.1.1.1' },
      { field: 'src_port', op: 'neq', value: 53 },
      { field: 'node', op: 'in', values: ['gw', 'laptop'] },
      { field: 'ip', op: 'nin', values: ['10.0.0.1', '10.0.0.2'] },
    ]);
  });

  it('hides hidden queries and keeps the others', () => {
    expect(ds.filterQuery({ refId: 'A', hide: true })).toBe(false);
    expect(ds.filterQuery({ refId: 'A' })).toBe(true);
  });
});
