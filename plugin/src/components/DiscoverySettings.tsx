/**
 * The config editor's discovery section (DNS SRV records, the Prometheus job that scrapes the
 * agents, refresh interval) and its pinned certificates (agent name -> SHA-256 fingerprint,
 * for configured and discovered agents alike). Values go to jsonData.discovery and
 * jsonData.tlsPins; the Prometheus password to secureJsonData.prometheusPassword. Problems
 * are shown next to the field, with the backend's rules (src/settings.ts).
 */
import React, { useState } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Button, Field, FieldSet, Input, RadioButtonGroup, SecretInput, Stack, Text } from '@grafana/ui';

import { discoveryProblems, PinRow, pinProblems } from '../settings';
import {
  DiscoveryOptions,
  FlowmeshOptions,
  FlowmeshSecureJsonData,
  OPTION_DEFAULTS,
  PROMETHEUS_PASSWORD_KEY,
} from '../types';

type Props = DataSourcePluginOptionsEditorProps<FlowmeshOptions, FlowmeshSecureJsonData>;

const SCHEMES = [
  { label: 'http', value: 'http' as const },
  { label: 'https', value: 'https' as const },
];

const splitNames = (text: string) => text.split(/[\s,]+/).filter(Boolean);

export function DiscoverySettings({ options, onOptionsChange }: Props) {
  const discovery = options.jsonData.discovery ?? {};
  const dns = discovery.dns ?? {};
  const prometheus = discovery.prometheus ?? {};
  // the names as typed (a trailing comma or space must survive until the next name)
  const [namesText, setNamesText] = useState((dns.names ?? []).join(', '));
  const passwordSet = Boolean(
    options.secureJsonFields?.[PROMETHEUS_PASSWORD_KEY] || options.secureJsonData?.[PROMETHEUS_PASSWORD_KEY]
  );
  const problems = discoveryProblems(discovery, passwordSet);

  const setDiscovery = (patch: Partial<DiscoveryOptions>) =>
    onOptionsChange({ ...options, jsonData: { ...options.jsonData, discovery: { ...discovery, ...patch } } });
  const setDns = (patch: Partial<NonNullable<DiscoveryOptions['dns']>>) => setDiscovery({ dns: { ...dns, ...patch } });
  const setPrometheus = (patch: Partial<NonNullable<DiscoveryOptions['prometheus']>>) =>
    setDiscovery({ prometheus: { ...prometheus, ...patch } });
  const setPassword = (value: string | null) => {
    const secureJsonData = { ...(options.secureJsonData ?? {}), [PROMETHEUS_PASSWORD_KEY]: value ?? '' };
    const secureJsonFields = { ...options.secureJsonFields };
    if (value === null) {
      secureJsonFields[PROMETHEUS_PASSWORD_KEY] = false;
    }
    onOptionsChange({ ...options, secureJsonData, secureJsonFields });
  };
  const text = (value: string) => (value.trim() === '' ? undefined : value.trim());

  return (
    <FieldSet label="Discovery">
      <Text color="secondary" element="p">
        Find agents instead of listing them: from DNS SRV records and from the Prometheus job that scrapes the agents.
        Refreshed in the background; the health check lists what was found and from where. Tokens (token.&lt;name&gt;)
        and pinned certificates apply to discovered agents by name.
      </Text>
      <Field
        label="DNS SRV names"
        description="Each target host and port is an agent, named by the target's first label"
        invalid={Boolean(problems.names)}
        error={problems.names}
      >
        <Input
          aria-label="DNS SRV names"
          width={60}
          placeholder="_flowmesh._tcp.mesh.example."
          value={namesText}
          onChange={(e) => {
            setNamesText(e.currentTarget.value);
            setDns({ names: splitNames(e.currentTarget.value) });
          }}
        />
      </Field>
      <Field
        label="DNS server"
        description="host:port; it also resolves the agents' host names. Empty: the system resolver"
        invalid={Boolean(problems.resolver)}
        error={problems.resolver}
      >
        <Input
          aria-label="DNS server"
          width={30}
          placeholder="10.0.0.53:53"
          value={dns.resolver ?? ''}
          onChange={(e) => setDns({ resolver: text(e.currentTarget.value) })}
        />
      </Field>
      <Field label="Scheme of SRV agents" description="https: the CA certificate and pinned certificates below apply">
        <RadioButtonGroup options={SCHEMES} value={dns.scheme ?? 'http'} onChange={(scheme) => setDns({ scheme })} />
      </Field>
      <Field
        label="Prometheus URL"
        description="The Prometheus that scrapes the agents; its /api/v1/targets lists them"
        invalid={Boolean(problems.prometheusUrl)}
        error={problems.prometheusUrl}
      >
        <Input
          aria-label="Prometheus URL"
          width={40}
          placeholder="http://prometheus:9090"
          value={prometheus.url ?? ''}
          onChange={(e) => setPrometheus({ url: text(e.currentTarget.value) })}
        />
      </Field>
      <Field
        label="Scrape job"
        description="job_name of the agents' scrape config"
        invalid={Boolean(problems.job)}
        error={problems.job}
      >
        <Input
          aria-label="Scrape job"
          width={24}
          placeholder="flowmesh"
          value={prometheus.job ?? ''}
          onChange={(e) => setPrometheus({ job: text(e.currentTarget.value) })}
        />
      </Field>
      <Field
        label="Name label"
        description="Target label holding the agent's name; without it, the instance's host"
        invalid={Boolean(problems.nameLabel)}
        error={problems.nameLabel}
      >
        <Input
          aria-label="Name label"
          width={24}
          placeholder={OPTION_DEFAULTS.nameLabel}
          value={prometheus.nameLabel ?? ''}
          onChange={(e) => setPrometheus({ nameLabel: text(e.currentTarget.value) })}
        />
      </Field>
      <Stack gap={1}>
        <Field
          label="Prometheus user"
          description="Basic authentication (optional)"
          invalid={Boolean(problems.user)}
          error={problems.user}
        >
          <Input
            aria-label="Prometheus user"
            width={24}
            value={prometheus.user ?? ''}
            onChange={(e) => setPrometheus({ user: text(e.currentTarget.value) })}
          />
        </Field>
        <Field label="Prometheus password">
          <SecretInput
            aria-label="Prometheus password"
            width={24}
            isConfigured={Boolean(options.secureJsonFields?.[PROMETHEUS_PASSWORD_KEY])}
            value={options.secureJsonData?.[PROMETHEUS_PASSWORD_KEY] ?? ''}
            onChange={(e) => setPassword(e.currentTarget.value)}
            onReset={() => setPassword(null)}
          />
        </Field>
      </Stack>
      <Field
        label="Refresh interval (s)"
        description={`How often discovery asks again (default ${OPTION_DEFAULTS.refreshIntervalS})`}
        invalid={Boolean(problems.refreshIntervalS)}
        error={problems.refreshIntervalS}
      >
        <Input
          aria-label="Refresh interval"
          type="number"
          width={16}
          placeholder={String(OPTION_DEFAULTS.refreshIntervalS)}
          value={discovery.refreshIntervalS ?? ''}
          onChange={(e) =>
            setDiscovery({ refreshIntervalS: e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value) })
          }
        />
      </Field>
    </FieldSet>
  );
}

/** Pinned certificates: rows edited here, stored as the jsonData.tlsPins map. */
export function PinnedCertificates({ options, onOptionsChange }: Props) {
  const [rows, setRows] = useState<PinRow[]>(
    Object.entries(options.jsonData.tlsPins ?? {}).map(([name, fingerprint]) => ({ name, fingerprint }))
  );
  const problems = pinProblems(rows, options.jsonData.agents ?? []);
  const update = (next: PinRow[]) => {
    setRows(next);
    const tlsPins = Object.fromEntries(
      next.filter((r) => r.name.trim() !== '').map((r) => [r.name.trim(), r.fingerprint.trim()])
    );
    onOptionsChange({
      ...options,
      jsonData: { ...options.jsonData, tlsPins: Object.keys(tlsPins).length > 0 ? tlsPins : undefined },
    });
  };
  const change = (index: number, patch: Partial<PinRow>) =>
    update(rows.map((r, i) => (i === index ? { ...r, ...patch } : r)));

  return (
    <Field
      label="Pinned certificates"
      description="An agent (configured or discovered) must present exactly this certificate: its SHA-256 fingerprint, as openssl x509 -noout -fingerprint -sha256 prints it. Without a CA certificate, a pin alone is the trust decision (self-signed agent certificates)."
    >
      <Stack direction="column" gap={1}>
        {rows.map((row, i) => (
          <Stack key={i} gap={1} alignItems="flex-start" data-testid={`pin-row-${i}`}>
            <Field invalid={Boolean(problems[i].name)} error={problems[i].name}>
              <Input
                aria-label={`Pin ${i + 1} agent`}
                width={20}
                placeholder="agent name"
                value={row.name}
                onChange={(e) => change(i, { name: e.currentTarget.value })}
              />
            </Field>
            <Field invalid={Boolean(problems[i].fingerprint)} error={problems[i].fingerprint}>
              <Input
                aria-label={`Pin ${i + 1} SHA-256`}
                width={70}
                placeholder="AB:CD:..."
                value={row.fingerprint}
                onChange={(e) => change(i, { fingerprint: e.currentTarget.value })}
              />
            </Field>
            <Button
              variant="secondary"
              icon="trash-alt"
              aria-label={`Remove pin ${i + 1}`}
              onClick={() => update(rows.filter((_, j) => j !== i))}
            />
          </Stack>
        ))}
        <div>
          <Button variant="secondary" icon="plus" onClick={() => update([...rows, { name: '', fingerprint: '' }])}>
            Add pinned certificate
          </Button>
        </div>
      </Stack>
    </Field>
  );
}
