// Package plugin adapts the Flowmesh backend to the Grafana plugin SDK: the instance
// factory (settings -> discovery -> fleet of agent clients), QueryData (query types routed
// with a QueryTypeMux), CheckHealth, CallResource and Dispose. It stays thin: finding agents
// lives in pkg/discovery, planning in pkg/query, fan-out and merging in pkg/federation,
// frames in pkg/frames.
package plugin

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/discovery"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// PluginID is the data source plugin id (src/plugin.json).
const PluginID = "flowmesh-flows-datasource"

// Compile-time checks that Datasource implements what Grafana calls.
var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// Datasource is one configured Flowmesh data source instance.
type Datasource struct {
	settings    *models.Settings
	settingsErr error // invalid settings are reported by every call instead of failing creation
	discoverer  *discovery.Discoverer
	transports  *agentclient.TransportPool
	agents      agentsCache // the fleet of the current discovery generation
	queries     *datasource.QueryTypeMux
	resources   backend.CallResourceHandler
}

// NewDatasource is the instance factory. Invalid settings do not fail it: the health
// check and each query then report the exact problem, which Grafana shows to the user.
// Discovery (when configured) starts refreshing in the background at once.
func NewDatasource(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	d := &Datasource{}
	settings, err := models.LoadSettings(s.JSONData, s.DecryptedSecureJSONData)
	if err == nil {
		d.settings = &settings
		d.transports = agentclient.NewTransportPool(settings.MaxConcurrency)
		var prometheus *http.Client
		if prometheus, err = prometheusClient(&settings, d.transports); err == nil {
			d.discoverer = discovery.New(&settings, prometheus)
			d.discoverer.Start()
		}
	}
	d.settingsErr = err
	d.queries = datasource.NewQueryTypeMux()
	for _, t := range models.QueryTypes {
		d.queries.HandleFunc(t, d.handleQueries)
	}
	d.queries.HandleFunc("", d.handleQueries) // unknown types get a clear per-query error
	d.resources = httpadapter.New(d.resourceRoutes())
	return d, nil
}

// Dispose stops discovery and releases idle connections when Grafana replaces the instance.
func (d *Datasource) Dispose() {
	if d.discoverer != nil {
		d.discoverer.Close()
	}
	if d.transports != nil {
		d.transports.Close()
	}
}

// QueryData answers every query of the request; one query's failure never fails another.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	return d.queries.QueryData(ctx, req)
}

// CallResource serves /agents, /values and /dimensions.
func (d *Datasource) CallResource(ctx context.Context, req *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	return d.resources.CallResource(ctx, req, sender)
}

func (d *Datasource) handleQueries(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp := backend.NewQueryDataResponse()
	forAlerting := isFromAlerting(req.Headers)
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, 4) // queries of one request run side by side, bounded
	for _, q := range req.Queries {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			dr := d.runQuery(ctx, q, forAlerting)
			mu.Lock()
			resp.Responses[q.RefID] = dr
			mu.Unlock()
		}()
	}
	wg.Wait()
	return resp, nil
}

func isFromAlerting(headers map[string]string) bool {
	for k, v := range headers {
		if (k == backend.FromAlertHeaderName || k == "http_"+backend.FromAlertHeaderName) && v == "true" {
			return true
		}
	}
	return false
}

func writeJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
