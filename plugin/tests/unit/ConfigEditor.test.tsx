/** ConfigEditor: agents list, validation messages, secrets, options. */
import React, { useState } from 'react';
import { DataSourceSettings } from '@grafana/data';
import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { ConfigEditor } from '../../src/components/ConfigEditor';
import { FlowmeshOptions, FlowmeshSecureJsonData } from '../../src/types';

type Settings = DataSourceSettings<FlowmeshOptions, FlowmeshSecureJsonData>;

function settings(jsonData: FlowmeshOptions, secureJsonFields: Record<string, boolean> = {}): Settings {
  return {
    id: 1,
    uid: 'flowmesh',
    name: 'Flowmesh',
    type: 'flowmesh-flows-datasource',
    jsonData,
    secureJsonFields,
  } as unknown as Settings;
}

/** Renders the editor the way Grafana does: every change comes back as the new options. */
function renderControlled(initial: Settings) {
  const changes: Settings[] = [];
  function Harness() {
    const [options, setOptions] = useState(initial);
    return (
      <ConfigEditor
        options={options}
        onOptionsChange={(next) => {
          changes.push(next);
          setOptions(next);
        }}
      />
    );
  }
  render(<Harness />);
  return { changes, last: () => changes[changes.length - 1] };
}

describe('ConfigEditor', () => {
  it('adds agents, validates names and URLs, and removes agents', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(settings({ agents: [] }));
    expect(screen.getByText('Add at least one agent, or discover agents below.')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Add agent' }));
    expect(last().jsonData.agents).toEqual([{ name: '', url: '' }]);
    expect(screen.getByText('Name is required')).toBeInTheDocument();
    expect(screen.getByText('URL is required, e.g. http://10.0.0.1:9477')).toBeInTheDocument();

    await user.type(screen.getByLabelText('Agent 1 name'), 'gw');
    await user.type(screen.getByLabelText('Agent 1 URL'), 'ftp://gw');
    expect(screen.getByText('Use http:// or https:// (got ftp://)')).toBeInTheDocument();
    await user.clear(screen.getByLabelText('Agent 1 URL'));
    await user.type(screen.getByLabelText('Agent 1 URL'), 'http://10.0.0.1:9477');
    expect(screen.queryByText(/Use http/)).not.toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Add agent' }));
    await user.type(screen.getByLabelText('Agent 2 name'), 'gw');
    await user.type(screen.getByLabelText('Agent 2 URL'), 'not a url');
    expect(screen.getByText('Duplicate name: agent 1 is also called "gw"')).toBeInTheDocument();
    expect(screen.getByText('Not a URL: "not a url" (expected e.g. http://10.0.0.1:9477)')).toBeInTheDocument();

    await user.click(screen.getByLabelText('Remove agent 2'));
    expect(last().jsonData.agents).toEqual([{ name: 'gw', url: 'http://10.0.0.1:9477' }]);
    expect(screen.queryByText(/Duplicate name/)).not.toBeInTheDocument();
  });

  it('rejects agent names the backend would reject', async () => {
    renderControlled(settings({ agents: [{ name: 'my agent!', url: 'https://a.example:9477' }] }));
    expect(
      screen.getByText("Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    ).toBeInTheDocument();
  });

  it('sets the shared token as secureJsonData and never shows a stored one', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(settings({ agents: [{ name: 'gw', url: 'http://gw:9477' }] }));
    await user.type(screen.getByLabelText('Shared token'), 's3cret');
    expect(last().secureJsonData).toEqual({ token: 's3cret' });
    expect(last().jsonData).toEqual({ agents: [{ name: 'gw', url: 'http://gw:9477' }] });
  });

  it('shows a configured token as configured and resets it', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(
      settings({ agents: [{ name: 'gw', url: 'http://gw:9477' }] }, { token: true, 'token.gw': true })
    );
    const resets = screen.getAllByRole('button', { name: 'Reset' });
    expect(resets).toHaveLength(2); // shared + gw override
    expect((screen.getByLabelText('Shared token') as HTMLInputElement).value).toBe('configured');

    await user.click(resets[1]); // the shared token (rendered after the agent rows)
    expect(last().secureJsonFields).toEqual({ token: false, 'token.gw': true });
    expect(last().secureJsonData).toEqual({ token: '' });
  });

  it('stores a per-agent override under token.<name> and drops it when the agent is removed', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(
      settings({ agents: [{ name: 'gw', url: 'http://gw:9477' }] }, { 'token.gw': true })
    );
    await user.click(screen.getByLabelText('Remove agent 1'));
    expect(last().jsonData.agents).toEqual([]);
    expect(last().secureJsonFields).toEqual({ 'token.gw': false });
    expect(last().secureJsonData).toEqual({ 'token.gw': '' });
  });

  it('moves an unsaved per-agent token along when the agent is renamed', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(settings({ agents: [{ name: 'gw', url: 'http://gw:9477' }] }));
    await user.type(screen.getByLabelText('Agent 1 token'), 'tok');
    expect(last().secureJsonData).toEqual({ 'token.gw': 'tok' });
    await user.type(screen.getByLabelText('Agent 1 name'), '2');
    expect(last().secureJsonData).toEqual({ 'token.gw': '', 'token.gw2': 'tok' });
  });

  it('edits TLS, timeout, concurrency, memory per query and default dedupe', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(settings({ agents: [{ name: 'gw', url: 'http://gw:9477' }] }));
    await user.click(screen.getByLabelText('Skip TLS verification'));
    expect(last().jsonData.tlsSkipVerify).toBe(true);
    await user.type(screen.getByLabelText('Timeout per agent'), '50');
    expect(last().jsonData.timeoutMs).toBe(50);
    expect(screen.getByText('Timeout must be a whole number between 100 and 600000')).toBeInTheDocument();
    await user.type(screen.getByLabelText('Timeout per agent'), '00');
    expect(last().jsonData.timeoutMs).toBe(5000);
    await user.type(screen.getByLabelText('Max concurrency'), '4');
    expect(last().jsonData.maxConcurrency).toBe(4);
    await user.type(screen.getByLabelText('Memory per query'), '0');
    expect(screen.getByText('Memory per query must be a whole number between 1 and 65536')).toBeInTheDocument();
    await user.clear(screen.getByLabelText('Memory per query'));
    await user.type(screen.getByLabelText('Memory per query'), '512');
    expect(last().jsonData.maxQueryMemoryMB).toBe(512);
    await user.click(screen.getByLabelText('Connection'));
    expect(last().jsonData.defaultDedupe).toBe('connection');
  });

  it('edits DNS SRV and Prometheus discovery, naming the field of every problem', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(settings({ agents: [] }));

    await user.type(screen.getByLabelText('DNS SRV names'), '_flowmesh._tcp.mesh.example., flowmesh.example');
    expect(last().jsonData.discovery?.dns?.names).toEqual(['_flowmesh._tcp.mesh.example.', 'flowmesh.example']);
    expect(screen.getByText(/Not an SRV name: flowmesh\.example/)).toBeInTheDocument();
    // with a discovery source the empty agent list is fine
    expect(screen.queryByText(/Add at least one agent/)).not.toBeInTheDocument();

    await user.type(screen.getByLabelText('DNS server'), '10.0.0.53');
    expect(screen.getByText('Use host:port, e.g. 10.0.0.53:53 or [fd00::53]:53')).toBeInTheDocument();
    await user.type(screen.getByLabelText('DNS server'), ':53');
    expect(last().jsonData.discovery?.dns?.resolver).toBe('10.0.0.53:53');
    expect(screen.queryByText(/Use host:port/)).not.toBeInTheDocument();
    await user.click(screen.getByLabelText('https'));
    expect(last().jsonData.discovery?.dns?.scheme).toBe('https');

    await user.type(screen.getByLabelText('Prometheus URL'), 'http://prometheus:9090');
    expect(screen.getByText('The job that scrapes the agents is required with a Prometheus URL')).toBeInTheDocument();
    await user.type(screen.getByLabelText('Scrape job'), 'flowmesh');
    expect(screen.queryByText(/The job that scrapes/)).not.toBeInTheDocument();
    await user.type(screen.getByLabelText('Name label'), 'node-name');
    expect(screen.getByText(/A Prometheus label name/)).toBeInTheDocument();

    await user.type(screen.getByLabelText('Prometheus password'), 'pw');
    expect(last().secureJsonData).toEqual({ prometheusPassword: 'pw' });
    expect(screen.getByText('A password is set: give the user too')).toBeInTheDocument();
    await user.type(screen.getByLabelText('Prometheus user'), 'grafana');

    await user.type(screen.getByLabelText('Refresh interval'), '1');
    expect(screen.getByText('Refresh interval must be a whole number between 5 and 86400')).toBeInTheDocument();
    await user.type(screen.getByLabelText('Refresh interval'), '20');
    expect(last().jsonData.discovery).toEqual({
      dns: { names: ['_flowmesh._tcp.mesh.example.', 'flowmesh.example'], resolver: '10.0.0.53:53', scheme: 'https' },
      prometheus: { url: 'http://prometheus:9090', job: 'flowmesh', nameLabel: 'node-name', user: 'grafana' },
      refreshIntervalS: 120,
    });
  });

  it('pins agent certificates by name and checks the fingerprint', async () => {
    const user = userEvent.setup({ delay: null });
    const { last } = renderControlled(settings({ agents: [{ name: 'gw', url: 'http://gw:9477' }] }));
    await user.click(screen.getByRole('button', { name: 'Add pinned certificate' }));
    await user.type(screen.getByLabelText('Pin 1 agent'), 'gw');
    await user.type(screen.getByLabelText('Pin 1 SHA-256'), 'AB:CD');
    expect(screen.getByText(/64 hex digits, colons allowed/)).toBeInTheDocument();

    const fingerprint = Array(32).fill('0F').join(':');
    await user.clear(screen.getByLabelText('Pin 1 SHA-256'));
    await user.type(screen.getByLabelText('Pin 1 SHA-256'), fingerprint);
    expect(screen.getByText('Agent "gw" uses http://; a pinned certificate needs https://')).toBeInTheDocument();
    await user.clear(screen.getByLabelText('Agent 1 URL'));
    await user.type(screen.getByLabelText('Agent 1 URL'), 'https://gw:9477');
    expect(screen.queryByText(/needs https/)).not.toBeInTheDocument();
    expect(last().jsonData.tlsPins).toEqual({ gw: fingerprint });

    // a discovered agent's name is as good as a configured one's
    await user.click(screen.getByRole('button', { name: 'Add pinned certificate' }));
    await user.type(screen.getByLabelText('Pin 2 agent'), 'gw');
    expect(screen.getByText('Duplicate: pin 1 is also for "gw"')).toBeInTheDocument();
    await user.type(screen.getByLabelText('Pin 2 agent'), '-b');
    await user.type(screen.getByLabelText('Pin 2 SHA-256'), fingerprint.replace(/0F/g, 'AA'));
    expect(last().jsonData.tlsPins).toEqual({ gw: fingerprint, 'gw-b': fingerprint.replace(/0F/g, 'AA') });

    await user.click(screen.getByLabelText('Remove pin 1'));
    await user.click(screen.getByLabelText('Remove pin 1'));
    expect(last().jsonData.tlsPins).toBeUndefined();
  });
});
