/**
 * Data source settings rules the config editor checks before saving. They mirror the Go
 * backend's (plugin/pkg/models/settings.go) so a user sees the problem next to the field
 * instead of as a failed health check.
 */
import { AgentConfig } from './types';

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
