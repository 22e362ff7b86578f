/** VariableQueryEditor: dimension, prefix and agents become the variable query; the preview shows the agents' values. */
import React, { useState } from 'react';
import { dateTime } from '@grafana/data';
import { setBackendSrv, setTemplateSrv } from '@grafana/runtime';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { VariableQueryEditor } from '../../src/components/VariableQueryEditor';
import { FlowmeshVariableQuery } from '../../src/types';
import { fakeBackendSrv, fakeTemplateSrv, makeDataSource } from './fakeGrafana';
import { stubLayout } from './layout';

beforeAll(stubLayout);

const range = {
  from: dateTime(1_700_000_000_000),
  to: dateTime(1_700_003_600_000),
  raw: { from: 'now-1h', to: 'now' },
};

it('builds the variable query and previews the values of the chosen dimension', async () => {
  const user = userEvent.setup({ delay: null });
  const backend = fakeBackendSrv({
    'POST values': (body) => {
      const { dimension, prefix } = body as { dimension: string; prefix?: string };
      const names = ['gateway', 'laptop', 'lab-1'].filter((n) => !prefix || n.startsWith(prefix));
      return { dimension, values: names.map((value) => ({ value, count: 1 })), complete: true, failed: [] };
    },
    'GET agents': () => ({ agents: [{ name: 'gw', url: 'http://gw:9477', ok: true, status: 'ok', message: '' }] }),
  });
  setBackendSrv(backend.srv);
  setTemplateSrv(fakeTemplateSrv({}));
  const datasource = makeDataSource();
  const changes: FlowmeshVariableQuery[] = [];
  function Harness() {
    const [query, setQuery] = useState<FlowmeshVariableQuery>({ refId: 'V' });
    return (
      <VariableQueryEditor
        datasource={datasource}
        query={query as never}
        range={range}
        onRunQuery={() => {}}
        onChange={(q) => {
          changes.push(q as FlowmeshVariableQuery);
          setQuery(q as FlowmeshVariableQuery);
        }}
      />
    );
  }
  const { container } = render(<Harness />);
  const input = container.querySelector<HTMLInputElement>('#flowmesh-variable-dimension')!;
  await user.click(input);
  await user.type(input, 'src_name', { skipClick: true });
  const options = await screen.findAllByRole('option');
  await user.click(options.find((o) => within(o).queryByText('src_name', { exact: true }))!);
  expect(changes[changes.length - 1]).toEqual({ refId: 'V', dimension: 'src_name' });
  expect(await screen.findByText('Values: gateway, laptop, lab-1')).toBeInTheDocument();

  await user.type(container.querySelector<HTMLInputElement>('#flowmesh-variable-prefix')!, 'la{Enter}');
  expect(changes[changes.length - 1]).toEqual({ refId: 'V', dimension: 'src_name', prefix: 'la' });
  expect(await screen.findByText('Values: laptop, lab-1')).toBeInTheDocument();
  expect(backend.requests.filter((r) => r.url.endsWith('/values')).pop()!.data).toEqual({
    dimension: 'src_name',
    prefix: 'la',
    agents: [],
    from: 1_700_000_000_000,
    to: 1_700_003_600_000,
  });
});
