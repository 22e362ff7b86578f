/**
 * Minimal stand-ins for the Grafana app services the plugin calls through @grafana/runtime
 * (TemplateSrv, BackendSrv). The real implementations live in Grafana itself, not in any
 * npm package, so the unit tests register these via setTemplateSrv / setBackendSrv.
 */
import { DataSourceInstanceSettings, ScopedVars } from '@grafana/data';
import { BackendSrv, BackendSrvRequest, FetchResponse, TemplateSrv } from '@grafana/runtime';
import { Observable, of, throwError } from 'rxjs';

import { DataSource } from '../../src/datasource';
import { FlowmeshOptions } from '../../src/types';

type Format = string | ((value: unknown, variable: unknown) => string) | undefined;

/** Variables by name; an array is a multi-value selection. Replaces $x, ${x} and [[x]] like Grafana. */
export function fakeTemplateSrv(variables: Record<string, string | string[]>): TemplateSrv {
  const pattern = /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)\]\]/g;
  const replace = (target?: string, scopedVars?: ScopedVars, format?: Format) =>
    (target ?? '').replace(pattern, (match, a, b, inlineFormat, c) => {
      const name = a ?? b ?? c;
      const scoped = scopedVars?.[name]?.value;
      const value = scoped !== undefined ? scoped : variables[name];
      if (value === undefined) {
        return match;
      }
      const fmt = inlineFormat ?? format;
      if (typeof fmt === 'function') {
        return fmt(value, { name });
      }
      if (Array.isArray(value)) {
        return fmt === 'csv' ? value.join(',') : value.length === 1 ? value[0] : `{${value.join(',')}}`;
      }
      return String(value);
    });
  return {
    replace,
    getVariables: () => [],
    containsTemplate: (t?: string) => Boolean(t && pattern.test(t)),
    updateTimeRange: () => {},
  } as unknown as TemplateSrv;
}

export interface RecordedRequest {
  method?: string;
  url: string;
  data?: unknown;
}

/** Answers resource requests from `routes` (keyed "METHOD path") and records every request. */
export function fakeBackendSrv(routes: Record<string, (data: unknown) => unknown>) {
  const requests: RecordedRequest[] = [];
  const fetch = <T>(options: BackendSrvRequest): Observable<FetchResponse<T>> => {
    requests.push({ method: options.method, url: options.url, data: options.data });
    const path = options.url.replace(/^.*\/resources\//, '');
    const handler = routes[`${options.method ?? 'GET'} ${path}`];
    if (!handler) {
      return throwError(() => ({ status: 404, data: { message: `no route ${options.method} ${path}` } }));
    }
    return of({ data: handler(options.data) as T, status: 200, ok: true } as FetchResponse<T>);
  };
  return { srv: { fetch } as unknown as BackendSrv, requests };
}

export function makeDataSource(jsonData: FlowmeshOptions = {}): DataSource {
  const settings = {
    id: 1,
    uid: 'flowmesh',
    type: 'flowmesh-flows-datasource',
    name: 'Flowmesh',
    access: 'proxy',
    jsonData,
    readOnly: false,
    meta: { id: 'flowmesh-flows-datasource', name: 'Flowmesh', type: 'datasource', info: {}, module: '', baseUrl: '' },
  } as unknown as DataSourceInstanceSettings<FlowmeshOptions>;
  return new DataSource(settings);
}
