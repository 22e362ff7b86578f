/**
 * Links as Grafana treats them: a data link (panel field config or a frame field's config)
 * may only set or use variables that exist where it leads, or it silently does nothing; a
 * dashboard link with a `placement` is not shown by Grafana 12.3 (12.3 renders only links
 * without one in the controls bar; 12.4 moved placed links into the controls menu).
 */
import { referencedVariables, type Json } from './template';

/** Macros Grafana resolves in data links (public/app/features/panel/panellinks, scenes macros). */
const LINK_MACROS = new Set([
  '__value', '__data', '__field', '__series', '__dashboard', '__url_time_range', '__all_variables', '__from', '__to',
  '__timezone', '__org', '__user',
]);

export interface LinkProblem {
  where: string;
  url: string;
  problem: string;
}

/** Every data link of a panel: field defaults and overrides. */
export function panelLinks(panel: Json): { where: string; url: string }[] {
  const links: { where: string; url: string }[] = [];
  for (const l of (panel.fieldConfig?.defaults?.links ?? []) as Json[]) links.push({ where: 'field defaults', url: String(l.url) });
  for (const o of (panel.fieldConfig?.overrides ?? []) as Json[]) {
    for (const p of (o.properties ?? []) as Json[]) {
      if (p.id !== 'links') continue;
      for (const l of (p.value ?? []) as Json[]) links.push({ where: `override ${String(o.matcher?.options)}`, url: String(l.url) });
    }
  }
  return links;
}

/**
 * Checks one data link URL: variables it refers to (`${x}`) must exist on the dashboard it is
 * on; variables it sets (`var-x=`) must exist on the dashboard it opens (`/d/<uid>`, or the
 * same dashboard for `/d/${__dashboard.uid}`). `variablesOf(uid)` lists a dashboard's
 * variables, undefined when no shipped dashboard has that uid.
 */
export function checkDataLink(
  url: string, hereUid: string, variablesOf: (uid: string) => string[] | undefined,
): string[] {
  const problems: string[] = [];
  const here = variablesOf(hereUid) ?? [];
  for (const name of referencedVariables(url)) {
    if (!LINK_MACROS.has(name) && !here.includes(name)) problems.push(`uses $${name}, which dashboard ${hereUid} does not define`);
  }
  const target = /^\/d\/([^/?]+)/.exec(url);
  if (!target) return problems;
  const targetUid = target[1] === '${__dashboard.uid}' ? hereUid : target[1];
  const there = variablesOf(targetUid);
  if (!there) return [...problems, `opens dashboard ${targetUid}, which is not shipped`];
  const query = url.slice(url.indexOf('?') + 1);
  for (const param of query.split('&')) {
    const set = /^var-([^=]+)=/.exec(param);
    if (set && !there.includes(set[1])) problems.push(`sets var-${set[1]}, which dashboard ${targetUid} does not define`);
  }
  return problems;
}

/** Dashboard links Grafana 12.3 would not show. */
export function hiddenDashboardLinks(dashboard: Json): string[] {
  return ((dashboard.links ?? []) as Json[])
    .filter((l) => l.placement !== undefined)
    .map((l) => `dashboard link "${String(l.title)}" has placement "${String(l.placement)}": Grafana 12.3 does not show it`);
}

/** The ad-hoc filters a clicked data link sets (`var-<name>=key|op|value`, Grafana's URL form). */
export function adHocFiltersFromUrl(url: string, variable: string): { key: string; operator: string; value: string }[] {
  const query = url.slice(url.indexOf('?') + 1);
  return query
    .split('&')
    .filter((p) => p.startsWith(`var-${variable}=`))
    .map((p) => decodeURIComponent(p.slice(`var-${variable}=`.length)))
    .filter((v) => v !== '')
    .map((v) => {
      const [key, operator, value] = v.split('|');
      return { key, operator, value };
    });
}
