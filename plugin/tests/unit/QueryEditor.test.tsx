/** QueryEditor and its filter builder, with the backend resources answered by a stub BackendSrv. */
import React, { useState } from 'react';
import { dateTime } from '@grafana/data';
import { setBackendSrv } from '@grafana/runtime';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { QueryEditor } from '../../src/components/QueryEditor';
import { Filter, FlowmeshQuery } from '../../src/types';
import { fakeBackendSrv, makeDataSource } from './fakeGrafana';
import { stubLayout } from './layout';

// Typing through virtualised comboboxes is slow on a busy CI machine.

const range = {
  from: dateTime(1_700_000_000_000),
  to: dateTime(1_700_003_600_000),
  raw: { from: 'now-1h', to: 'now' },
};

beforeAll(stubLayout);

function renderEditor(initial: Partial<FlowmeshQuery>) {
  const backend = fakeBackendSrv({
    'POST values': (body) => {
      const { dimension, prefix } = body as { dimension: string; prefix?: string };
      const all: Record<string, string[]> = {
        src_ip: ['10.0.0.1', '10.0.0.2'],
        dst_ip: ['10.0.0.2', '1.1.1.1'],
        conn_state: ['S0', 'SF', 'REJ'],
      };
      const values = (all[dimension] ?? []).filter((v) => !prefix || v.startsWith(prefix));
      return { dimension, values: values.map((value) => ({ value, count: 1 })), complete: true, failed: [] };
    },
    'GET agents': () => ({
      agents: [
        { name: 'gw', url: 'http://gw:9477', ok: true, status: 'ok', message: '' },
        { name: 'laptop', url: 'http://laptop:9477', ok: false, status: 'timeout', message: 'timeout after 10000ms' },
      ],
    }),
  });
  setBackendSrv(backend.srv);
  const datasource = makeDataSource();
  const changes: FlowmeshQuery[] = [];
  const onRunQuery = jest.fn();
  function Harness() {
    const [query, setQuery] = useState<FlowmeshQuery>({ refId: 'A', ...initial });
    return (
      <QueryEditor
        datasource={datasource}
        query={query}
        range={range}
        onRunQuery={onRunQuery}
        onChange={(q) => {
          changes.push(q);
          setQuery(q);
        }}
      />
    );
  }
  const view = render(<Harness />);
  const last = () => changes[changes.length - 1];
  return { ...view, requests: backend.requests, last, onRunQuery };
}

const byId = (container: HTMLElement, id: string) => container.querySelector<HTMLInputElement>(`#${id}`);

describe('QueryEditor', () => {
  it('shows the controls of each query type and fills in its defaults', async () => {
    const user = userEvent.setup({ delay: null });
    const { container, last, onRunQuery } = renderEditor({ queryType: 'timeseries', metric: 'bytes' });
    await waitFor(() => expect(byId(container, 'flowmesh-split-by')).not.toBeNull());
    expect(byId(container, 'flowmesh-metric')).not.toBeNull();
    expect(byId(container, 'flowmesh-group-by')).toBeNull();

    await user.click(screen.getByLabelText('Top talkers'));
    expect(last()).toMatchObject({ queryType: 'top', groupBy: ['src_ip', 'dst_ip'], metric: 'bytes', limit: 10 });
    expect(byId(container, 'flowmesh-group-by')).not.toBeNull();
    expect(byId(container, 'flowmesh-split-by')).toBeNull();
    expect(onRunQuery).toHaveBeenCalledTimes(1);

    await user.click(screen.getByLabelText('Flows table'));
    expect(last()).toMatchObject({ queryType: 'flows', order: 'newest', limit: 10 }); // limit kept from top
    expect(screen.getByLabelText('Oldest first')).toBeInTheDocument();
    expect(byId(container, 'flowmesh-metric')).toBeNull();

    await user.click(screen.getByLabelText('Topology'));
    expect(last()).toMatchObject({ queryType: 'topology', topologyBy: 'ip' });
    await user.click(screen.getByLabelText('Name'));
    expect(last().topologyBy).toBe('name');

    await user.click(screen.getByLabelText('Summary'));
    expect(byId(container, 'flowmesh-metric')).not.toBeNull(); // the number an alert rule gets
    await user.click(screen.getByLabelText('Connection'));
    expect(last()).toMatchObject({ queryType: 'summary', dedupe: 'connection' });
  });

  it('the open flows switch sets includeOpen and runs the query; off removes it', async () => {
    const user = userEvent.setup({ delay: null });
    const { container, last, onRunQuery } = renderEditor({ queryType: 'flows' });
    await user.click(byId(container, 'flowmesh-include-open')!);
    expect(last().includeOpen).toBe(true);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    await user.click(byId(container, 'flowmesh-include-open')!);
    expect(last().includeOpen).toBeUndefined();
  });

  it('runs typed text on blur only', async () => {
    const user = userEvent.setup({ delay: null });
    const { container, last, onRunQuery } = renderEditor({ queryType: 'flows' });
    await user.type(byId(container, 'flowmesh-text')!, 'example.com');
    expect(onRunQuery).not.toHaveBeenCalled();
    await user.tab();
    expect(last().text).toBe('example.com');
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('presets add the exact conn_state and dst_type filters', async () => {
    const user = userEvent.setup({ delay: null });
    const { last, onRunQuery } = renderEditor({ queryType: 'top', groupBy: ['dst_ip'] });
    await user.click(screen.getByRole('button', { name: 'Handshake never completed' }));
    await user.click(screen.getByRole('button', { name: 'Refused (SYN then RST)' }));
    await user.click(screen.getByRole('button', { name: 'Resets' }));
    await user.click(screen.getByRole('button', { name: 'External destinations' }));
    await user.click(screen.getByRole('button', { name: 'External destinations' })); // no duplicate
    expect(last().filters).toEqual<Filter[]>([
      { field: 'conn_state', op: 'in', values: ['S0'] },
      { field: 'conn_state', op: 'in', values: ['REJ'] },
      { field: 'conn_state', op: 'in', values: ['RSTO', 'RSTR'] },
      { field: 'dst_type', op: 'eq', value: 'external' },
    ]);
    expect(onRunQuery).toHaveBeenCalled();
  });

  it('builds filters field by field: operator set per kind, CIDR, port range, counters, flags', async () => {
    const user = userEvent.setup({ delay: null });
    const { container, last } = renderEditor({ queryType: 'flows' });
    await user.click(screen.getByRole('button', { name: 'Add filter' }));
    expect(last().filters).toEqual([{ field: 'ip', op: 'eq', value: '' }]);
    expect(screen.getByText('enter a value')).toBeInTheDocument();

    // Lists are virtualised: narrow them by typing, as a user would, then pick.
    const choose = async (id: string, label: string) => {
      const input = byId(container, id)!;
      await user.click(input);
      await user.type(input, label, {
        skipClick: true,
        initialSelectionStart: 0,
        initialSelectionEnd: input.value.length,
      });
      const options = await screen.findAllByRole('option');
      const [option] = options.filter((o) => within(o).queryByText(label, { exact: true }) !== null);
      await user.click(option);
    };

    await choose('filter-0-op', 'in CIDR');
    await user.type(byId(container, 'filter-0-value')!, '10.8.0.0/16{Enter}');
    expect(last().filters).toEqual([{ field: 'ip', op: 'cidr', value: '10.8.0.0/16' }]);

    await choose('filter-0-field', 'dst_port');
    await choose('filter-0-op', 'between');
    await user.type(byId(container, 'filter-0-value-min')!, '1000{Enter}');
    await user.type(byId(container, 'filter-0-value-max')!, '2000{Enter}');
    expect(last().filters).toEqual([{ field: 'dst_port', op: 'range', min: 1000, max: 2000 }]);

    await choose('filter-0-field', 'bytes');
    await user.click(byId(container, 'filter-0-op')!);
    const numericOps = (await screen.findAllByRole('option')).map((o) => o.textContent);
    expect(numericOps).toEqual(['>', '>=', '<', '<=', '=', '!=']);
    await user.click(screen.getByRole('option', { name: '>=' }));
    await user.type(byId(container, 'filter-0-value')!, '1048576{Enter}');
    expect(last().filters).toEqual([{ field: 'bytes', op: 'gte', value: 1048576 }]);

    await choose('filter-0-field', 'tcp_flags');
    expect(last().filters).toEqual([{ field: 'tcp_flags', op: 'has_all', flags: [] }]);
    await choose('filter-0-value', 'SYN');
    await choose('filter-0-value', 'RST');
    expect(last().filters).toEqual([{ field: 'tcp_flags', op: 'has_all', flags: ['SYN', 'RST'] }]);

    await user.click(screen.getByLabelText('Remove filter 1'));
    expect(last().filters).toEqual([]);
  });

  it('suggests values from resources/values with the typed prefix, the agents and the time range', async () => {
    const user = userEvent.setup({ delay: null });
    const { container, last, requests } = renderEditor({ queryType: 'flows', agents: ['gw'] });
    await user.click(screen.getByRole('button', { name: 'Add filter' }));
    await user.type(byId(container, 'filter-0-value')!, '10.');
    const option = await screen.findByRole('option', { name: /10\.0\.0\.2/ });
    const valueRequests = requests.filter((r) => r.url.endsWith('/resources/values'));
    expect(valueRequests.map((r) => r.data)).toContainEqual({
      dimension: 'src_ip', prefix: '10.', agents: ['gw'], from: 1_700_000_000_000, to: 1_700_003_600_000,
    }); // prettier-ignore
    expect(valueRequests.map((r) => (r.data as { dimension: string }).dimension)).toEqual(
      expect.arrayContaining(['src_ip', 'dst_ip'])
    );
    // 10.0.0.2 comes from both sides but is offered once.
    expect(screen.getAllByRole('option', { name: /10\.0\.0\.2/ })).toHaveLength(1);
    await user.click(option);
    expect(last().filters).toEqual([{ field: 'ip', op: 'eq', value: '10.0.0.2' }]);
  });

  it('lists the configured agents from resources/agents', async () => {
    const user = userEvent.setup({ delay: null });
    const { container, last } = renderEditor({ queryType: 'summary' });
    await act(async () => {});
    await user.click(byId(container, 'flowmesh-agents')!);
    await user.click(await screen.findByRole('option', { name: /^laptop/ }));
    expect(last().agents).toEqual(['laptop']);
  });
});
