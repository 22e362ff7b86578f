package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/pkg/query"
)

// Resource routes for the frontend (editors, variable query editor):
//
//	GET  /agents      the agents (configured and discovered) with their health, vanished agents, discovery sources
//	POST /values      {dimension, prefix?, agents?, from?, to?, limit?, filters?} -> merged distinct values
//	GET  /dimensions  the dimension, metric and filter field lists of the agent contract
func (d *Datasource) resourceRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agents", d.guard(d.handleAgents))
	mux.HandleFunc("POST /values", d.guard(d.handleValues))
	mux.HandleFunc("GET /dimensions", handleDimensions)
	return mux
}

type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, status int, message string) {
	reply(w, status, apiError{Error: http.StatusText(status), Message: message})
}

// guard answers settings problems once for every route that needs agents.
func (d *Datasource) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.settingsErr != nil {
			replyError(w, http.StatusBadRequest, d.settingsErr.Error())
			return
		}
		h(w, r)
	}
}

func (d *Datasource) handleAgents(w http.ResponseWriter, r *http.Request) {
	agents, err := d.current(r.Context())
	if err != nil {
		replyError(w, http.StatusBadRequest, err.Error())
		return
	}
	reply(w, http.StatusOK, map[string]any{"agents": d.agentsHealth(r.Context(), agents), "vanished": agents.snap.Vanished,
		"discovery": agents.snap.Sources})
}

// ValuesRequest is the body of POST /values.
type ValuesRequest struct {
	Dimension string          `json:"dimension"`
	Prefix    string          `json:"prefix"`
	Agents    []string        `json:"agents"`
	From      *int64          `json:"from"` // epoch ms; default: 24 hours before to
	To        *int64          `json:"to"`   // epoch ms; default: now
	Limit     int             `json:"limit"`
	Filters   []models.Filter `json:"filters"`
}

// ValuesResponse is the answer of POST /values.
type ValuesResponse struct {
	Dimension string              `json:"dimension"`
	Values    []models.ValueCount `json:"values"`
	// Complete is false when an agent returned as many values as asked (more may exist).
	Complete bool          `json:"complete"`
	Failed   []AgentHealth `json:"failed"`
}

func (d *Datasource) handleValues(w http.ResponseWriter, r *http.Request) {
	var req ValuesRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		replyError(w, http.StatusBadRequest, "invalid body: "+err.Error())
		return
	}
	if !models.Contains(models.Dimensions, req.Dimension) {
		replyError(w, http.StatusBadRequest, fmt.Sprintf("dimension %q: use one of %v", req.Dimension, models.Dimensions))
		return
	}
	if req.Limit == 0 {
		req.Limit = models.DefaultValuesLimit
	}
	if req.Limit < 1 || req.Limit > models.MaxValuesLimit {
		replyError(w, http.StatusBadRequest, fmt.Sprintf("limit %d: must be between 1 and %d", req.Limit, models.MaxValuesLimit))
		return
	}
	to := time.Now()
	if req.To != nil {
		to = time.UnixMilli(*req.To)
	}
	from := to.Add(-24 * time.Hour)
	if req.From != nil {
		from = time.UnixMilli(*req.From)
	}
	agents, err := d.current(r.Context())
	if err != nil {
		replyError(w, http.StatusBadRequest, err.Error())
		return
	}
	raw, _ := json.Marshal(models.PluginQuery{QueryType: models.QueryTypeSummary, Agents: req.Agents, Filters: req.Filters})
	qc := query.Context{From: from, To: to}
	raw, _, remaining := withoutVanished(raw, qc, agents)
	if !remaining {
		reply(w, http.StatusOK, ValuesResponse{Dimension: req.Dimension, Values: []models.ValueCount{}, Complete: true, Failed: []AgentHealth{}})
		return
	}
	plan, err := query.Parse(raw, qc, agents.settings)
	if err != nil {
		replyError(w, http.StatusBadRequest, err.Error())
		return
	}
	res, err := d.values(r.Context(), agents.fleet, plan, req)
	if err != nil {
		replyError(w, http.StatusBadGateway, err.Error())
		return
	}
	reply(w, http.StatusOK, res)
}

func (d *Datasource) values(ctx context.Context, fleet *federation.Fleet, plan query.Plan, req ValuesRequest) (ValuesResponse, error) {
	clients, err := fleet.Select(plan.Agents)
	if err != nil {
		return ValuesResponse{}, err
	}
	q := models.Query{Kind: models.KindValues, From: plan.From, To: plan.To, Filters: plan.Filters, Dimension: req.Dimension, Prefix: req.Prefix, Limit: models.Int64(int64(req.Limit))}
	outcomes := federation.FanOut(ctx, clients, fleet.MaxConcurrency, func(ctx context.Context, c *agentclient.Client) (models.ValuesResult, error) {
		var out models.ValuesResult
		err := c.QueryChecked(ctx, q, &out)
		return out, err
	})
	results, failed := federation.Split(outcomes)
	if len(results) == 0 {
		return ValuesResponse{}, &query.AllFailedError{Failed: failed}
	}
	values, complete := federation.MergeValues(results, req.Limit, req.Limit)
	resp := ValuesResponse{Dimension: req.Dimension, Values: values, Complete: complete, Failed: []AgentHealth{}}
	for _, f := range failed {
		resp.Failed = append(resp.Failed, AgentHealth{Name: f.Agent, Status: string(f.Kind), Message: f.Message})
	}
	return resp, nil
}

func handleDimensions(w http.ResponseWriter, _ *http.Request) {
	reply(w, http.StatusOK, map[string]any{
		"dimensions":       models.Dimensions,
		"eitherSideFields": models.EitherSideFields,
		"numericFields":    models.NumericFields,
		"flagFields":       models.FlagFields,
		"tcpFlags":         models.TCPFlagNames,
		"metrics":          models.Metrics,
		"directions":       models.Directions,
		"queryTypes":       models.QueryTypes,
	})
}
