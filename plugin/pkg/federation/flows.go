package federation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Flows paging across agents. Each agent pages its own records with its own opaque cursor;
// the plugin merges one page from every agent and may consume only part of an agent's
// page. The composite cursor therefore stores, per agent, the cursor that produced the
// page being consumed plus how many of its records were already shown (skip), or done.
// The next panel page re-asks each agent for that page, drops the shown records, tops up
// from the agent's next page when needed, and merges again: every record is shown exactly
// once, in order, with at most two requests per agent per page.

// AgentPosition is one agent's place in its own record stream.
type AgentPosition struct {
	Cursor string `json:"c,omitempty"`
	Skip   int    `json:"s,omitempty"`
	Done   bool   `json:"d,omitempty"`
}

// CompositeCursor is the panel's paging state over all agents.
type CompositeCursor struct {
	Version int                      `json:"v"`
	Order   string                   `json:"o"`
	Query   string                   `json:"q,omitempty"` // fingerprint of the query it pages
	Agents  map[string]AgentPosition `json:"a"`
}

const cursorVersion = 1

// EncodeCursor renders the cursor as URL-safe base64 JSON.
func EncodeCursor(c CompositeCursor) string {
	c.Version = cursorVersion
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor made by EncodeCursor; "" is the first page.
func DecodeCursor(s, order string) (CompositeCursor, error) {
	c := CompositeCursor{Version: cursorVersion, Order: order, Agents: map[string]AgentPosition{}}
	if s == "" {
		return c, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("cursor: not a Flowmesh plugin cursor (%v)", err)
	}
	if err := json.Unmarshal(raw, &c); err != nil || c.Version != cursorVersion {
		return c, errors.New("cursor: not a Flowmesh plugin cursor of this version; start from the first page")
	}
	if c.Order != order {
		return c, fmt.Errorf("cursor: made for order %q but the query asks %q; start from the first page", c.Order, order)
	}
	if c.Agents == nil {
		c.Agents = map[string]AgentPosition{}
	}
	return c, nil
}

// FetchFlows asks one agent for one page of flows starting at cursor ("" = first).
type FetchFlows func(ctx context.Context, c *agentclient.Client, cursor string) (models.FlowsResult, error)

// FlowsPage is one merged page.
type FlowsPage struct {
	Records []models.FlowRecord
	// AgentOf names the agent each record came from (same index as Records).
	AgentOf []string
	// NextCursor is "" after the last page.
	NextCursor string
	Failed     []*agentclient.Error
}

type agentStream struct {
	client  *agentclient.Client
	pos     AgentPosition
	pages   []models.FlowsResult // first the page at pos.Cursor, maybe the next one
	records []models.FlowRecord  // unshown records of pages, in the agent's order
	failed  bool
}

// PageFlows merges the next page of pageSize records from all clients in recordLess order.
func PageFlows(ctx context.Context, clients []*agentclient.Client, maxConcurrency, pageSize int, order string, cursor CompositeCursor, fetch FetchFlows) FlowsPage {
	streams := make([]*agentStream, 0, len(clients))
	for _, c := range clients {
		pos := cursor.Agents[c.Name]
		if !pos.Done {
			streams = append(streams, &agentStream{client: c, pos: pos})
		}
	}
	var page FlowsPage
	// Round 1: the page each agent is positioned in. Round 2: the following page for
	// agents whose unshown remainder is too short to fill a panel page.
	page.Failed = append(page.Failed, fetchRound(ctx, streams, maxConcurrency, fetch, func(s *agentStream) (string, bool) {
		return s.pos.Cursor, true
	})...)
	for _, s := range streams {
		if !s.failed {
			first := s.pages[0].Records
			s.records = append(s.records, first[min(s.pos.Skip, len(first)):]...)
		}
	}
	page.Failed = append(page.Failed, fetchRound(ctx, streams, maxConcurrency, fetch, func(s *agentStream) (string, bool) {
		next := s.pages[0].NextCursor
		return deref(next), len(s.records) < pageSize && next != nil
	})...)

	less := recordLess(order)
	heads := make([]int, len(streams))
	for len(page.Records) < pageSize {
		best := -1
		for i, s := range streams {
			if s.failed || heads[i] >= len(s.records) {
				continue
			}
			if best < 0 || less(s.records[heads[i]], streams[best].records[heads[best]]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		page.Records = append(page.Records, streams[best].records[heads[best]])
		page.AgentOf = append(page.AgentOf, streams[best].client.Name)
		heads[best]++
	}

	next := CompositeCursor{Order: order, Query: cursor.Query, Agents: map[string]AgentPosition{}}
	allDone := true
	for name, pos := range cursor.Agents {
		next.Agents[name] = pos // done agents and agents not selected keep their place
	}
	for i, s := range streams {
		if !s.failed {
			s.pos = s.advance(heads[i])
		}
		next.Agents[s.client.Name] = s.pos
		if !s.pos.Done {
			allDone = false
		}
	}
	if !allDone {
		page.NextCursor = EncodeCursor(next)
	}
	return page
}

// advance computes the agent's position after consumed more records were shown.
func (s *agentStream) advance(consumed int) AgentPosition {
	first := s.pages[0]
	shownOfFirst := min(s.pos.Skip, len(first.Records)) + consumed
	if shownOfFirst < len(first.Records) {
		return AgentPosition{Cursor: s.pos.Cursor, Skip: shownOfFirst}
	}
	if first.NextCursor == nil {
		return AgentPosition{Done: true}
	}
	if len(s.pages) < 2 {
		return AgentPosition{Cursor: *first.NextCursor}
	}
	second := s.pages[1]
	shownOfSecond := shownOfFirst - len(first.Records)
	if shownOfSecond < len(second.Records) {
		return AgentPosition{Cursor: *first.NextCursor, Skip: shownOfSecond}
	}
	if second.NextCursor == nil {
		return AgentPosition{Done: true}
	}
	return AgentPosition{Cursor: *second.NextCursor}
}

// fetchRound fetches one page for every stream that wants one, concurrently.
func fetchRound(ctx context.Context, streams []*agentStream, maxConcurrency int, fetch FetchFlows, want func(*agentStream) (string, bool)) []*agentclient.Error {
	var todo []*agentStream
	var clients []*agentclient.Client
	cursors := map[string]string{}
	for _, s := range streams {
		if s.failed {
			continue
		}
		if c, ok := want(s); ok {
			todo = append(todo, s)
			clients = append(clients, s.client)
			cursors[s.client.Name] = c
		}
	}
	outcomes := FanOut(ctx, clients, maxConcurrency, func(ctx context.Context, c *agentclient.Client) (models.FlowsResult, error) {
		return fetch(ctx, c, cursors[c.Name])
	})
	var failed []*agentclient.Error
	for i, o := range outcomes {
		s := todo[i]
		if o.Err != nil {
			s.failed = true
			failed = append(failed, o.Err)
			continue
		}
		s.pages = append(s.pages, o.Result)
		if len(s.pages) == 2 {
			s.records = append(s.records, o.Result.Records...)
		}
	}
	return failed
}

// recordLess orders records as the agents do (start_us, then flow_id, then seq, all
// descending for newest), with the reporting node as the final tie-break between agents.
func recordLess(order string) func(a, b models.FlowRecord) bool {
	return func(a, b models.FlowRecord) bool {
		if order != "oldest" {
			a, b = b, a
		}
		switch {
		case a.StartUs != b.StartUs:
			return a.StartUs < b.StartUs
		case a.FlowID != b.FlowID:
			return a.FlowID < b.FlowID
		case a.Seq != b.Seq:
			return a.Seq < b.Seq
		}
		return a.Node < b.Node
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
