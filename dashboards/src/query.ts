/**
 * The Flowmesh panel query as a foundation-SDK builder, plus the data source references
 * every panel uses. The query shape is docs/CONTRACTS.md "Plugin query" (the plugin's
 * plugin/pkg/models/pluginquery.go); filters are the agent's Filter objects
 * (agent/src/model/query.ts) whose string values may hold dashboard variables.
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as common from '@grafana/grafana-foundation-sdk/common';

export const PLUGIN_ID = 'flowmesh-flows-datasource';
/** uid of the provisioned Flowmesh data source (provisioning/grafana/datasources). */
export const FLOWMESH_UID = 'flowmesh';
export const PROMETHEUS_UID = 'prometheus';

/** Flowmesh panels follow the `ds` data source variable (default: the provisioned one). */
export const flowmeshDatasource: common.DataSourceRef = { type: PLUGIN_ID, uid: '${ds}' };
export const prometheusDatasource: common.DataSourceRef = { type: 'prometheus', uid: PROMETHEUS_UID };

export type QueryType = 'flows' | 'top' | 'timeseries' | 'summary' | 'topology';
export type Metric =
  | 'bytes' | 'bytes_tx' | 'bytes_rx' | 'packets' | 'packets_tx' | 'packets_rx' | 'flows'
  | 'handshakes' | 'handshake_us_avg' | 'handshake_us_max' | 'synack_us_avg' | 'ack_us_avg'
  | 'dns_responses' | 'dns_rtt_us_avg' | 'dns_rtt_us_max';

/** One agent filter; the test validates each against the agent's FilterSchema. */
export type Filter =
  | { field: string; op: 'eq' | 'neq'; value: string | number }
  | { field: string; op: 'in' | 'nin'; values: (string | number)[] }
  | { field: string; op: 'cidr' | 'not_cidr'; value: string }
  | { field: string; op: 'range'; min: number; max: number }
  | { field: string; op: 'gt' | 'gte' | 'lt' | 'lte'; value: number }
  | { field: string; op: 'has_all' | 'has_any' | 'has_none'; flags: string[] };

export interface FlowmeshQuery extends cog.Dataquery {
  refId: string;
  queryType: QueryType;
  datasource?: common.DataSourceRef;
  hide?: boolean;
  agents?: string[];
  filters?: Filter[];
  text?: string;
  groupBy?: string[];
  metric?: Metric;
  limit?: number;
  splitBy?: string[];
  splitLimit?: number;
  order?: 'newest' | 'oldest';
  dedupe?: 'default' | 'none' | 'connection';
  topologyBy?: 'ip' | 'name';
  /** Bucket width for timeseries (additive plugin field: "1m", "$__interval"). */
  interval?: string;
  /** Also flows still open on the agents (additive plugin field). */
  includeOpen?: boolean;
}

/** Builds one Flowmesh query; refId defaults to A (the panel builder does not renumber). */
export class FlowmeshQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly internal: FlowmeshQuery;

  constructor(queryType: QueryType) {
    this.internal = {
      refId: 'A',
      queryType,
      datasource: flowmeshDatasource,
      _implementsDataqueryVariant: () => {},
    };
  }

  build(): FlowmeshQuery {
    return this.internal;
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  filters(filters: Filter[]): this {
    this.internal.filters = filters;
    return this;
  }

  groupBy(dimensions: string[]): this {
    this.internal.groupBy = dimensions;
    return this;
  }

  metric(metric: Metric): this {
    this.internal.metric = metric;
    return this;
  }

  limit(limit: number): this {
    this.internal.limit = limit;
    return this;
  }

  splitBy(dimensions: string[], splitLimit?: number): this {
    this.internal.splitBy = dimensions;
    if (splitLimit !== undefined) {
      this.internal.splitLimit = splitLimit;
    }
    return this;
  }

  order(order: 'newest' | 'oldest'): this {
    this.internal.order = order;
    return this;
  }

  dedupe(dedupe: 'default' | 'none' | 'connection'): this {
    this.internal.dedupe = dedupe;
    return this;
  }

  topologyBy(by: 'ip' | 'name'): this {
    this.internal.topologyBy = by;
    return this;
  }

  interval(interval: string): this {
    this.internal.interval = interval;
    return this;
  }

  /** Flows still open on the agents count too (seconds old, not yet recorded). */
  includeOpen(): this {
    this.internal.includeOpen = true;
    return this;
  }
}

/** Shorthands so panel code reads like the question it answers. */
export const q = {
  flows: (limit: number) => new FlowmeshQueryBuilder('flows').order('newest').limit(limit),
  top: (groupBy: string[], metric: Metric, limit: number) =>
    new FlowmeshQueryBuilder('top').groupBy(groupBy).metric(metric).limit(limit),
  timeseries: (metric: Metric, splitBy?: string[], splitLimit?: number) => {
    const query = new FlowmeshQueryBuilder('timeseries').metric(metric);
    return splitBy ? query.splitBy(splitBy, splitLimit) : query;
  },
  topology: (metric: Metric, by: 'ip' | 'name', limit: number) =>
    new FlowmeshQueryBuilder('topology').metric(metric).topologyBy(by).limit(limit),
};
