// Package models owns the plugin's data shapes: the data source settings (jsonData and
// secureJsonData, validated), the Go mirror of the agent contract (agent/src/model/flow.ts
// and query.ts: FlowRecord, Query, Filter, QueryResult, Totals) and the plugin query model
// that Grafana sends (docs/CONTRACTS.md "Plugin query"). No I/O lives here.
package models
