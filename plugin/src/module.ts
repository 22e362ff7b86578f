/** Entry point Grafana loads: the data source class and its editors. */
import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { DataSource } from './datasource';
import { FlowmeshOptions, FlowmeshQuery } from './types';

export const plugin = new DataSourcePlugin<DataSource, FlowmeshQuery, FlowmeshOptions>(DataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
