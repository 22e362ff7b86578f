/** The shipped dashboards: file name -> dashboard object (what Grafana's file provider loads). */
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { nodeDashboard } from './node';
import { overviewDashboard } from './overview';
import { topologyDashboard } from './topology';
import { troubleshootingDashboard } from './troubleshooting';

export const DASHBOARDS: Record<string, () => dashboard.Dashboard> = {
  'flowmesh-overview.json': () => overviewDashboard().build(),
  'flowmesh-node.json': () => nodeDashboard().build(),
  'flowmesh-troubleshooting.json': () => troubleshootingDashboard().build(),
  'flowmesh-topology.json': () => topologyDashboard().build(),
};

/** Serialised exactly as checked in (functions such as the SDK's variant markers drop out). */
export const render = (build: () => dashboard.Dashboard): string => `${JSON.stringify(build(), null, 2)}\n`;
