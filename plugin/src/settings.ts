/**
 * Data source settings rules the config editor checks before saving. They mirror the Go
 * backend's (plugin/pkg/models/settings.go) so a user sees the problem next to the field
 * instead of as a failed health check.
 */
import { AgentConfig, DiscoveryOptions } from './types';

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface AgentProblems {
  name?: string;
  url?: string;
}

export function agentProblems(agents: AgentConfig[]): AgentProblems[] {
  const firstIndex = new Map<string, number>();
  return agents.map((agent, i) => {
    const name = agent.name.trim();
    const problems: AgentProblems = {};
    if (name === '') {
      problems.name = 'Name is required';
    } else if (!AGENT_NAME.test(name)) {
      problems.name = "Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
    } else if (firstIndex.has(name)) {
      problems.name = `Duplicate name: agent ${firstIndex.get(name)! + 1} is also called "${name}"`;
    } else {
      firstIndex.set(name, i);
    }
    problems.url = urlProblem(agent.url);
    return problems;
  });
}

export function urlProblem(raw: string): string | undefined {
  const text = raw.trim();
  if (text === '') {
    return 'URL is required, e.g. http://10.0.0.1:9477';
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `Not a URL: "${text}" (expected e.g. http://10.0.0.1:9477)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `Use http:// or https:// (got ${url.protocol}//)`;
  }
  if (url.hostname === '') {
    return 'The URL needs a host';
  }
  if (url.search !== '' || url.hash !== '') {
    return 'Leave out query strings and fragments';
  }
  return undefined;
}

export const hasProblems = (problems: AgentProblems[]) => problems.some((p) => p.name || p.url);

export function numberProblem(value: number | undefined, min: number, max: number, what: string): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  return Number.isInteger(value) && value >= min && value <= max
    ? undefined
    : `${what} must be a whole number between ${min} and ${max}`;
}

/** True when a discovery source is configured (then the agent list may be empty). */
export const discoveryEnabled = (d: DiscoveryOptions | undefined) =>
  Boolean((d?.dns?.names ?? []).length > 0 || (d?.prometheus?.url ?? '').trim() !== '');

// _service._proto.domain, the trailing dot optional (models.srvNamePattern)
const SRV_NAME = /^_[A-Za-z0-9-]{1,62}\._(tcp|udp)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\.?$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface DiscoveryProblems {
  names?: string;
  resolver?: string;
  prometheusUrl?: string;
  job?: string;
  nameLabel?: string;
  user?: string;
  refreshIntervalS?: string;
}

export function discoveryProblems(d: DiscoveryOptions | undefined, passwordSet: boolean): DiscoveryProblems {
  const problems: DiscoveryProblems = {};
  const badNames = (d?.dns?.names ?? []).filter((n) => !SRV_NAME.test(n));
  if (badNames.length > 0) {
    problems.names = `Not an SRV name: ${badNames.join(', ')} (expected e.g. _flowmesh._tcp.mesh.example.)`;
  }
  const resolver = (d?.dns?.resolver ?? '').trim();
  if (resolver !== '' && !hostPortValid(resolver)) {
    problems.resolver = 'Use host:port, e.g. 10.0.0.53:53 or [fd00::53]:53';
  }
  const p = d?.prometheus ?? {};
  const url = (p.url ?? '').trim();
  if (url !== '') {
    problems.prometheusUrl = urlProblem(url);
    if (!problems.prometheusUrl && new URL(url).username !== '') {
      problems.prometheusUrl = 'Put the user and password in their own fields, not in the URL';
    }
    if ((p.job ?? '').trim() === '') {
      problems.job = 'The job that scrapes the agents is required with a Prometheus URL';
    }
  } else if ((p.job ?? '').trim() !== '') {
    problems.prometheusUrl = 'The Prometheus base URL is required with a job, e.g. http://prometheus:9090';
  }
  if (p.nameLabel !== undefined && p.nameLabel !== '' && !LABEL_NAME.test(p.nameLabel)) {
    problems.nameLabel = 'A Prometheus label name: letters, digits and _, not starting with a digit';
  }
  if (passwordSet && (p.user ?? '').trim() === '') {
    problems.user = 'A password is set: give the user too';
  }
  problems.refreshIntervalS = numberProblem(d?.refreshIntervalS, 5, 86400, 'Refresh interval');
  return problems;
}

function hostPortValid(text: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(text);
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535;
}

export interface PinRow {
  name: string;
  fingerprint: string;
}

export interface PinProblems {
  name?: string;
  fingerprint?: string;
}

/** A SHA-256 fingerprint as openssl prints it: 64 hex digits, colons allowed (models.ParsePin). */
export function pinValid(text: string): boolean {
  let t = text.trim();
  for (const prefix of ['sha256:', 'SHA256:', 'sha256 Fingerprint=', 'SHA256 Fingerprint=']) {
    if (t.startsWith(prefix)) {
      t = t.slice(prefix.length);
    }
  }
  return /^[0-9A-Fa-f]{64}$/.test(t.replace(/:/g, ''));
}

export function pinProblems(rows: PinRow[], agents: AgentConfig[]): PinProblems[] {
  const first = new Map<string, number>();
  return rows.map((row, i) => {
    const problems: PinProblems = {};
    const name = row.name.trim();
    if (!AGENT_NAME.test(name)) {
      problems.name = 'The agent name (configured or discovered)';
    } else if (first.has(name)) {
      problems.name = `Duplicate: pin ${first.get(name)! + 1} is also for "${name}"`;
    } else {
      first.set(name, i);
    }
    if (!pinValid(row.fingerprint)) {
      problems.fingerprint = '64 hex digits, colons allowed: openssl x509 -noout -fingerprint -sha256 -in agent.crt';
    } else if (agents.some((a) => a.name.trim() === name && a.url.trim().startsWith('http://'))) {
      problems.fingerprint = `Agent "${name}" uses http://; a pinned certificate needs https://`;
    }
    return problems;
  });
}
