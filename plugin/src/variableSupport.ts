/**
 * Query variables: the distinct values of one dimension (POST resources/values), edited with
 * VariableQueryEditor. Answers a one-column `text` frame, which Grafana turns into options.
 */
import { CustomVariableSupport, DataQueryRequest, DataQueryResponse, FieldType, createDataFrame } from '@grafana/data';
import { Observable, from } from 'rxjs';
import { map } from 'rxjs/operators';

import { VariableQueryEditor } from './components/VariableQueryEditor';
import type { DataSource } from './datasource';
import { FlowmeshVariableQuery } from './types';

export class FlowmeshVariableSupport extends CustomVariableSupport<DataSource, FlowmeshVariableQuery> {
  editor = VariableQueryEditor;

  constructor(private readonly datasource: DataSource) {
    super();
  }

  query(request: DataQueryRequest<FlowmeshVariableQuery>): Observable<DataQueryResponse> {
    const query = request.targets[0];
    return from(this.datasource.variableValues(query, request.range, request.scopedVars)).pipe(
      map((values) => ({
        data: [createDataFrame({ refId: query.refId, fields: [{ name: 'text', type: FieldType.string, values }] })],
      }))
    );
  }
}
