package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/frames"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/pkg/query"
)

// runQuery answers one query; panics become an error response, never a crash.
func (d *Datasource) runQuery(ctx context.Context, q backend.DataQuery, forAlerting bool) (dr backend.DataResponse) {
	defer func() {
		if p := recover(); p != nil {
			dr = backend.ErrDataResponseWithSource(backend.StatusInternal, backend.ErrorSourcePlugin, fmt.Sprintf("internal error: %v", p))
		}
	}()
	if d.settingsErr != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, d.settingsErr.Error())
	}
	agents, err := d.current(ctx)
	if err != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	}
	qc := query.Context{From: q.TimeRange.From, To: q.TimeRange.To, Interval: q.Interval, MaxDataPoints: q.MaxDataPoints}
	raw, vanished, remaining := withoutVanished(q.JSON, qc, agents)
	if !remaining {
		return backend.DataResponse{Frames: data.Frames{noticeFrame(frames.Notices{Warnings: vanished, Infos: discoveryNotices(agents.snap)})}}
	}
	plan, err := query.Parse(raw, qc, agents.settings)
	if err != nil {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, "query "+q.RefID+": "+err.Error())
	}
	res, err := query.Run(ctx, agents.fleet, plan)
	if err != nil {
		return errorResponse(err)
	}
	res.Warnings = append(vanished, res.Warnings...)
	res.Infos = append(discoveryNotices(agents.snap), res.Infos...)
	return backend.DataResponse{Frames: toFrames(res, forAlerting)}
}

// noticeFrame is an empty frame carrying notices: the answer when nothing could be asked.
func noticeFrame(n frames.Notices) *data.Frame {
	var notices []data.Notice
	for _, w := range n.Warnings {
		notices = append(notices, data.Notice{Severity: data.NoticeSeverityWarning, Text: w})
	}
	for _, i := range n.Infos {
		notices = append(notices, data.Notice{Severity: data.NoticeSeverityInfo, Text: i})
	}
	return data.NewFrame("").SetMeta(&data.FrameMeta{Notices: notices})
}

func toFrames(res *query.Result, forAlerting bool) data.Frames {
	n := frames.Notices{Warnings: res.Warnings, Infos: res.Infos}
	switch {
	case res.Flows != nil:
		return frames.Flows(res.Flows.Records, res.Flows.NextCursor, n)
	case res.Top != nil && res.Plan.QueryType == models.QueryTypeTopology:
		return frames.Topology(*res.Top, res.Plan.TopologyBy, n)
	case res.Top != nil:
		return frames.Top(*res.Top, forAlerting, n)
	case res.Series != nil:
		return frames.Timeseries(*res.Series, n)
	case res.Summary != nil:
		return frames.Summary(*res.Summary, res.Plan.Metric, forAlerting, n)
	}
	return nil
}

// errorResponse maps a failed query to a status: every agent timed out -> 504 timeout,
// every agent refused the token -> 401, other agent faults -> 502; all are downstream
// errors (the agents' or the user's problem, not the plugin's).
func errorResponse(err error) backend.DataResponse {
	var all *query.AllFailedError
	if !errors.As(err, &all) {
		return backend.ErrDataResponseWithSource(backend.StatusBadRequest, backend.ErrorSourceDownstream, err.Error())
	}
	return backend.ErrDataResponseWithSource(statusOf(all.Failed), backend.ErrorSourceDownstream, err.Error())
}

func statusOf(failed []*agentclient.Error) backend.Status {
	allOf := func(kind agentclient.Kind) bool {
		for _, f := range failed {
			if f.Kind != kind {
				return false
			}
		}
		return len(failed) > 0
	}
	switch {
	case allOf(agentclient.KindTimeout):
		return backend.StatusTimeout
	case allOf(agentclient.KindUnauthorized):
		return backend.StatusUnauthorized
	case allOf(agentclient.KindHTTP) && failed[0].HTTPStatus == 400:
		return backend.StatusBadRequest
	case allOf(agentclient.KindOverloaded):
		return backend.StatusTooManyRequests
	}
	return backend.StatusBadGateway
}
