/**
 * Data source settings: the agents (name + URL, optional per-agent token), discovery (DNS
 * SRV, Prometheus targets), the shared agent token, TLS (CA certificate, pinned certificates),
 * timeouts, concurrency and the default dedupe mode. Tokens are secureJsonData:
 * typed here, stored encrypted by Grafana, never sent back (only "configured" flags are).
 */
import React, { ChangeEvent } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import {
  Button,
  Field,
  FieldSet,
  InlineSwitch,
  Input,
  RadioButtonGroup,
  SecretInput,
  SecretTextArea,
  Stack,
  Text,
} from '@grafana/ui';

import { agentProblems, discoveryEnabled, numberProblem } from '../settings';
import { DiscoverySettings, PinnedCertificates } from './DiscoverySettings';
import { NumberOption } from './OptionFields';
import {
  AgentConfig,
  FlowmeshOptions,
  FlowmeshSecureJsonData,
  OPTION_DEFAULTS,
  SHARED_TOKEN_KEY,
  agentTokenKey,
} from '../types';

type Props = DataSourcePluginOptionsEditorProps<FlowmeshOptions, FlowmeshSecureJsonData>;
type Options = Props['options'];

const DEDUPE_OPTIONS = [
  { label: 'None', value: 'none' as const, description: 'Every agent report counts' },
  {
    label: 'Connection',
    value: 'connection' as const,
    description: 'A connection reported by several agents counts once',
  },
];

/** Sets or clears secure keys: a value to store, or '' with configured=false to delete. */
function withSecrets(options: Options, changes: Record<string, string | null>): Options {
  const secureJsonData = { ...(options.secureJsonData ?? {}) };
  const secureJsonFields = { ...options.secureJsonFields };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) {
      secureJsonData[key] = '';
      secureJsonFields[key] = false;
    } else {
      secureJsonData[key] = value;
    }
  }
  return { ...options, secureJsonData, secureJsonFields };
}

export function ConfigEditor({ options, onOptionsChange }: Props) {
  const { jsonData } = options;
  const agents = jsonData.agents ?? [];
  const problems = agentProblems(agents);
  const secureData = options.secureJsonData ?? {};
  const isConfigured = (key: string) => Boolean(options.secureJsonFields?.[key]);

  const setJson = (patch: Partial<FlowmeshOptions>, base: Options = options) =>
    onOptionsChange({ ...base, jsonData: { ...base.jsonData, ...patch } });
  const setAgents = (next: AgentConfig[], base: Options = options) => setJson({ agents: next }, base);

  const updateAgent = (index: number, patch: Partial<AgentConfig>) => {
    const before = agents[index];
    const next = agents.map((a, i) => (i === index ? { ...a, ...patch } : a));
    let base = options;
    if (patch.name !== undefined && patch.name !== before.name) {
      // A per-agent token is keyed by the name: an unsaved one moves along, a stored one
      // (unreadable here) is deleted so it cannot silently apply to a later agent of that name.
      const oldKey = agentTokenKey(before.name);
      const typed = secureData[oldKey];
      const changes: Record<string, string | null> = {};
      if (isConfigured(oldKey) || typed) {
        changes[oldKey] = null;
      }
      if (typed) {
        changes[agentTokenKey(patch.name)] = typed;
      }
      base = withSecrets(options, changes);
    }
    setAgents(next, base);
  };

  const removeAgent = (index: number) => {
    const key = agentTokenKey(agents[index].name);
    const base = isConfigured(key) || secureData[key] ? withSecrets(options, { [key]: null }) : options;
    setAgents(
      agents.filter((_, i) => i !== index),
      base
    );
  };

  const numberInput = (key: 'timeoutMs' | 'maxConcurrency' | 'rowBudget' | 'maxQueryMemoryMB') => (e: ChangeEvent<HTMLInputElement>) =>
    setJson({ [key]: e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value) });

  const timeoutProblem = numberProblem(jsonData.timeoutMs, 100, 600000, 'Timeout');
  const concurrencyProblem = numberProblem(jsonData.maxConcurrency, 1, 64, 'Max concurrency');
  const budgetProblem = numberProblem(jsonData.rowBudget, 1, 100000, 'Row budget');
  const memoryProblem = numberProblem(jsonData.maxQueryMemoryMB, 1, 65536, 'Memory per query');

  return (
    <Stack direction="column" gap={2}>
      <FieldSet label="Agents">
        <Text color="secondary" element="p">
          Every Flowmesh agent this data source queries. The Grafana server (not the browser) connects to these URLs.
        </Text>
        {agents.length === 0 && !discoveryEnabled(jsonData.discovery) && (
          <Text color="warning" element="p">
            Add at least one agent, or discover agents below.
          </Text>
        )}
        {agents.map((agent, i) => {
          const tokenKey = agentTokenKey(agent.name);
          return (
            <Stack key={i} gap={1} alignItems="flex-start" data-testid={`agent-row-${i}`}>
              <Field label="Name" invalid={Boolean(problems[i].name)} error={problems[i].name} style={{ width: 176 }}>
                <Input
                  aria-label={`Agent ${i + 1} name`}
                  value={agent.name}
                  width={20}
                  placeholder="gateway"
                  onChange={(e) => updateAgent(i, { name: e.currentTarget.value })}
                />
              </Field>
              <Field label="URL" invalid={Boolean(problems[i].url)} error={problems[i].url} style={{ width: 304 }}>
                <Input
                  aria-label={`Agent ${i + 1} URL`}
                  value={agent.url}
                  width={36}
                  placeholder="http://10.0.0.1:9477"
                  onChange={(e) => updateAgent(i, { url: e.currentTarget.value })}
                />
              </Field>
              <Field label="Token override (optional, replaces the shared token)">
                <SecretInput
                  aria-label={`Agent ${i + 1} token`}
                  width={28}
                  isConfigured={isConfigured(tokenKey)}
                  value={secureData[tokenKey] ?? ''}
                  placeholder="uses the shared token"
                  disabled={agent.name.trim() === ''}
                  onChange={(e) => onOptionsChange(withSecrets(options, { [tokenKey]: e.currentTarget.value }))}
                  onReset={() => onOptionsChange(withSecrets(options, { [tokenKey]: null }))}
                />
              </Field>
              <Field label="&nbsp;">
                <Button
                  variant="secondary"
                  icon="trash-alt"
                  aria-label={`Remove agent ${i + 1}`}
                  onClick={() => removeAgent(i)}
                />
              </Field>
            </Stack>
          );
        })}
        <Button variant="secondary" icon="plus" onClick={() => setAgents([...agents, { name: '', url: '' }])}>
          Add agent
        </Button>
      </FieldSet>

      <DiscoverySettings options={options} onOptionsChange={onOptionsChange} />

      <FieldSet label="Authentication and TLS">
        <Field label="Shared token" description="Sent as a bearer token to every agent without an override">
          <SecretInput
            aria-label="Shared token"
            width={40}
            isConfigured={isConfigured(SHARED_TOKEN_KEY)}
            value={secureData[SHARED_TOKEN_KEY] ?? ''}
            placeholder="agent --token / FLOWMESH_TOKEN"
            onChange={(e) => onOptionsChange(withSecrets(options, { [SHARED_TOKEN_KEY]: e.currentTarget.value }))}
            onReset={() => onOptionsChange(withSecrets(options, { [SHARED_TOKEN_KEY]: null }))}
          />
        </Field>
        <Field
          label="CA certificate"
          description="PEM; trusts the https certificates it signed: agents (configured and discovered) and the discovery Prometheus"
        >
          <SecretTextArea
            aria-label="CA certificate"
            cols={60}
            rows={4}
            isConfigured={isConfigured('tlsCACert')}
            value={secureData.tlsCACert ?? ''}
            onChange={(e) => onOptionsChange(withSecrets(options, { tlsCACert: e.currentTarget.value }))}
            onReset={() => onOptionsChange(withSecrets(options, { tlsCACert: null }))}
          />
        </Field>
        <PinnedCertificates options={options} onOptionsChange={onOptionsChange} />
        <Field label="Skip TLS verification" description="Accept any certificate (testing only)">
          <InlineSwitch
            aria-label="Skip TLS verification"
            value={Boolean(jsonData.tlsSkipVerify)}
            onChange={(e) => setJson({ tlsSkipVerify: e.currentTarget.checked })}
          />
        </Field>
      </FieldSet>

      <FieldSet label="Queries">
        <NumberOption
          label="Timeout per agent (ms)"
          ariaLabel="Timeout per agent"
          description={`An agent slower than this is reported missing; the others still answer (default ${OPTION_DEFAULTS.timeoutMs})`}
          problem={timeoutProblem}
          placeholder={String(OPTION_DEFAULTS.timeoutMs)}
          value={jsonData.timeoutMs}
          onChange={numberInput('timeoutMs')}
        />
        <NumberOption
          label="Max concurrency"
          ariaLabel="Max concurrency"
          description={`Agents queried at the same time (default ${OPTION_DEFAULTS.maxConcurrency})`}
          problem={concurrencyProblem}
          placeholder={String(OPTION_DEFAULTS.maxConcurrency)}
          value={jsonData.maxConcurrency}
          onChange={numberInput('maxConcurrency')}
        />
        <NumberOption
          label="Row budget"
          ariaLabel="Row budget"
          description="Most groups or series one agent returns per query (default 50000)"
          problem={budgetProblem}
          placeholder="50000"
          value={jsonData.rowBudget}
          onChange={numberInput('rowBudget')}
        />
        <NumberOption
          label="Memory per query (MiB)"
          ariaLabel="Memory per query"
          description={`Most memory one query's agent replies may take, split equally over the agents it asks; a reply beyond its share is left out with a notice (default ${OPTION_DEFAULTS.maxQueryMemoryMB})`}
          problem={memoryProblem}
          placeholder={String(OPTION_DEFAULTS.maxQueryMemoryMB)}
          value={jsonData.maxQueryMemoryMB}
          onChange={numberInput('maxQueryMemoryMB')}
        />
        <Field label="Default dedupe" description="Used by queries whose dedupe is 'default'">
          <RadioButtonGroup
            options={DEDUPE_OPTIONS}
            value={jsonData.defaultDedupe ?? OPTION_DEFAULTS.defaultDedupe}
            onChange={(value) => setJson({ defaultDedupe: value })}
          />
        </Field>
      </FieldSet>
    </Stack>
  );
}
