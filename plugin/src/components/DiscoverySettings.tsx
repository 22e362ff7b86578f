/**
 * The config editor's discovery section (DNS SRV records, the Prometheus job that scrapes the
 * agents, refresh interval) and its pinned certificates (agent name -> SHA-256 fingerprint,
 * for configured and discovered agents alike). Values go to jsonData.discovery and
 * jsonData.tlsPins; the Prometheus password to secureJsonData.prometheusPassword. Problems
 * are shown next to the field, with the backend's rules (src/settings.ts).
 */
import React, { useState } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Button, Field, FieldSet, RadioButtonGroup, SecretInput, Stack, Text } from '@grafana/ui';

import { discoveryProblems, PinRow, pinProblems } from '../settings';
import { NumberOption, TextOption } from './OptionFields';
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
      <TextOption
        label="DNS SRV names"
        description="Each target host and port is an agent, named by the target's first label"
        problem={problems.names}
        width={60}
        placeholder="_flowmesh._tcp.mesh.example."
        value={namesText}
        onChange={(value) => {
          setNamesText(value);
          setDns({ names: splitNames(value) });
        }}
      />
      <TextOption
        label="DNS server"
        description="host:port; it also resolves the agents' host names. Empty: the system resolver"
        problem={problems.resolver}
        width={30}
        placeholder="10.0.0.53:53"
        value={dns.resolver ?? ''}
        onChange={(value) => setDns({ resolver: text(value) })}
      />
      <Field label="Scheme of SRV agents" description="https: the CA certificate and pinned certificates below apply">
        <RadioButtonGroup options={SCHEMES} value={dns.scheme ?? 'http'} onChange={(scheme) => setDns({ scheme })} />
      </Field>
      <TextOption
        label="Prometheus URL"
        description="The Prometheus that scrapes the agents; its /api/v1/targets lists them"
        problem={problems.prometheusUrl}
        width={40}
        placeholder="http://prometheus:9090"
        value={prometheus.url ?? ''}
        onChange={(value) => setPrometheus({ url: text(value) })}
      />
      <TextOption
        label="Scrape job"
        description="job_name of the agents' scrape config"
        problem={problems.job}
        width={24}
        placeholder="flowmesh"
        value={prometheus.job ?? ''}
        onChange={(value) => setPrometheus({ job: text(value) })}
      />
      <TextOption
        label="Name label"
        description="Target label holding the agent's name; without it, the instance's host"
        problem={problems.nameLabel}
        width={24}
        placeholder={OPTION_DEFAULTS.nameLabel}
        value={prometheus.nameLabel ?? ''}
        onChange={(value) => setPrometheus({ nameLabel: text(value) })}
      />
      <Stack gap={1}>
        <TextOption
          label="Prometheus user"
          description="Basic authentication (optional)"
          problem={problems.user}
          width={24}
          value={prometheus.user ?? ''}
          onChange={(value) => setPrometheus({ user: text(value) })}
        />
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
      <NumberOption
        label="Refresh interval (s)"
        ariaLabel="Refresh interval"
        description={`How often discovery asks again (default ${OPTION_DEFAULTS.refreshIntervalS})`}
        problem={problems.refreshIntervalS}
        placeholder={String(OPTION_DEFAULTS.refreshIntervalS)}
        value={discovery.refreshIntervalS}
        onChange={(e) =>
          setDiscovery({ refreshIntervalS: e.currentTarget.value === '' ? undefined : Number(e.currentTarget.value) })
        }
      />
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
            <TextOption
              ariaLabel={`Pin ${i + 1} agent`}
              problem={problems[i].name}
              width={20}
              placeholder="agent name"
              value={row.name}
              onChange={(name) => change(i, { name })}
            />
            <TextOption
              ariaLabel={`Pin ${i + 1} SHA-256`}
              problem={problems[i].fingerprint}
              width={70}
              placeholder="AB:CD:..."
              value={row.fingerprint}
              onChange={(fingerprint) => change(i, { fingerprint })}
            />
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
