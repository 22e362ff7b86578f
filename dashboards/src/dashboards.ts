/** The shipped dashboards: file name -> dashboard object (what Grafana's file provider loads). */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { nodeDashboard } from './node';
import { overviewDashboard } from './overview';
import { topologyDashboard } from './topology';
import { troubleshootingDashboard } from './troubleshooting';

export const DASHBOARDS: Record<string, () => dashboard.Dashboard> = {
  'flowmesh-overview.json': () => forGrafana(overviewDashboard().build()),
  'flowmesh-node.json': () => forGrafana(nodeDashboard().build()),
  'flowmesh-troubleshooting.json': () => forGrafana(troubleshootingDashboard().build()),
  'flowmesh-topology.json': () => forGrafana(topologyDashboard().build()),
};

/**
 * Settings the foundation SDK adds that Grafana 12.3 reads differently: the SDK gives every
 * dashboard link `placement: inControlsMenu`, and Grafana 12.3 shows only links without a
 * placement (12.4 tucks placed ones into the controls menu). Left out, links show in both.
 */
function forGrafana(built: dashboard.Dashboard): dashboard.Dashboard {
  for (const link of built.links ?? []) delete link.placement;
  return built;
}

/** Serialised exactly as checked in (functions such as the SDK's variant markers drop out). */
export const render = (build: () => dashboard.Dashboard): string => `${JSON.stringify(build(), null, 2)}\n`;
