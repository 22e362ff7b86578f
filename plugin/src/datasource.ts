/**
 * The Flowmesh data source in the browser. Queries run in the Go backend (fan-out to agents,
 * merge, frames); this class prepares them (variables, ad-hoc filters, hidden queries) and
 * talks to the backend's resources for editor suggestions, template variables and ad-hoc
 * filter keys/values.
 */
import {
  AdHocVariableFilter,
  CoreApp,
  DataSourceGetTagKeysOptions,
  DataSourceGetTagValuesOptions,
  DataSourceInstanceSettings,
  LegacyMetricFindQueryOptions,
  MetricFindValue,
  ScopedVars,
  TimeRange,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';

import { adHocToFilters, interpolateQuery } from './variables';
import {
  AgentHealth,
  DEFAULT_QUERY,
  DIMENSIONS,
  Dimension,
  DimensionsResponse,
  FlowmeshOptions,
  FlowmeshQuery,
  FlowmeshVariableQuery,
  ValueCount,
  ValuesRequest,
  ValuesResponse,
} from './types';
import { FlowmeshVariableSupport } from './variableSupport';

export class DataSource extends DataSourceWithBackend<FlowmeshQuery, FlowmeshOptions> {
  constructor(instanceSettings: DataSourceInstanceSettings<FlowmeshOptions>) {
    super(instanceSettings);
    this.variables = new FlowmeshVariableSupport(this);
  }

  getDefaultQuery(_: CoreApp): Partial<FlowmeshQuery> {
    return DEFAULT_QUERY;
  }

  applyTemplateVariables(query: FlowmeshQuery, scopedVars: ScopedVars, filters?: AdHocVariableFilter[]) {
    return interpolateQuery(query, scopedVars, getTemplateSrv(), filters);
  }

  filterQuery(query: FlowmeshQuery): boolean {
    return !query.hide;
  }

  /** Distinct values of one dimension, from the selected agents (all when none). */
  async fetchValues(request: ValuesRequest): Promise<ValueCount[]> {
    const body: ValuesRequest = { ...request, prefix: request.prefix || undefined };
    const answer = await this.postResource<ValuesResponse>('values', body);
    return answer?.values ?? [];
  }

  /** Configured agents with their health, as the backend sees them. */
  async fetchAgents(): Promise<AgentHealth[]> {
    const answer = await this.getResource<{ agents: AgentHealth[] }>('agents');
    return answer?.agents ?? [];
  }

  async fetchDimensions(): Promise<Dimension[]> {
    const answer = await this.getResource<DimensionsResponse>('dimensions');
    return answer?.dimensions ?? [...DIMENSIONS];
  }

  /** Values for a variable query, with variables in its prefix and agents resolved. */
  async variableValues(query: FlowmeshVariableQuery, range?: TimeRange, scopedVars?: ScopedVars) {
    if (!query.dimension) {
      return [];
    }
    const srv = getTemplateSrv();
    const agents = (query.agents ?? []).flatMap((a) => srv.replace(a, scopedVars, 'csv').split(','));
    const values = await this.fetchValues({
      dimension: query.dimension,
      prefix: query.prefix ? srv.replace(query.prefix, scopedVars) : undefined,
      agents: agents.filter((a) => a !== ''),
      ...rangeOf(range),
    });
    return values.map((v) => String(v.value));
  }

  async metricFindQuery(
    query: FlowmeshVariableQuery,
    options?: LegacyMetricFindQueryOptions
  ): Promise<MetricFindValue[]> {
    const values = await this.variableValues(query, options?.range, options?.scopedVars);
    return values.map((text) => ({ text, value: text }));
  }

  async getTagKeys(_options?: DataSourceGetTagKeysOptions<FlowmeshQuery>): Promise<MetricFindValue[]> {
    const dimensions = await this.fetchDimensions();
    return dimensions.map((text) => ({ text, value: text }));
  }

  async getTagValues(options: DataSourceGetTagValuesOptions<FlowmeshQuery>): Promise<MetricFindValue[]> {
    if (!(DIMENSIONS as readonly string[]).includes(options.key)) {
      return [];
    }
    const others = adHocToFilters((options.filters ?? []).filter((f) => f.key !== options.key));
    const values = await this.fetchValues({
      dimension: options.key as Dimension,
      filters: others.length > 0 ? others : undefined,
      ...rangeOf(options.timeRange),
    });
    return values.map((v) => ({ text: String(v.value), value: v.value }));
  }
}

function rangeOf(range?: TimeRange): { from?: number; to?: number } {
  return range ? { from: range.from.valueOf(), to: range.to.valueOf() } : {};
}
