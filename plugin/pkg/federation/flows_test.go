package federation

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

func clientsNamed(names ...string) []*agentclient.Client {
	out := make([]*agentclient.Client, len(names))
	for i, n := range names {
		out[i] = agentclient.New(models.AgentConfig{Name: n, URL: "http://127.0.0.1:1"}, "", time.Second, nil)
	}
	return out
}

// pagedStore pages an agent's sorted records with an opaque positional cursor, as the
// agent contract describes (next_cursor null on the last page).
func pagedStore(perAgent map[string][]models.FlowRecord, pageSize int, calls *atomic.Int64) FetchFlows {
	return func(_ context.Context, c *agentclient.Client, cursor string) (models.FlowsResult, error) {
		calls.Add(1)
		recs := perAgent[c.Name]
		start := 0
		if cursor != "" {
			start, _ = strconv.Atoi(cursor)
		}
		end := min(start+pageSize, len(recs))
		res := models.FlowsResult{Kind: "flows", Records: recs[start:end]}
		if end < len(recs) {
			next := strconv.Itoa(end)
			res.NextCursor = &next
		}
		return res, nil
	}
}

func TestPageFlowsVisitsEveryRecordOnceInOrder(t *testing.T) {
	for _, order := range []string{"newest", "oldest"} {
		for _, pageSize := range []int{1, 3, 7, 50} {
			t.Run(fmt.Sprintf("%s/%d", order, pageSize), func(t *testing.T) {
				rng := rand.New(rand.NewSource(int64(pageSize)))
				perAgent := map[string][]models.FlowRecord{}
				var all []models.FlowRecord
				for _, agent := range []string{"a", "b", "c"} {
					n := 5 + rng.Intn(30)
					for i := 0; i < n; i++ {
						r := models.FlowRecord{FlowID: fmt.Sprintf("%s-%d", agent, i), Node: agent, StartUs: int64(rng.Intn(40)) * 1000}
						perAgent[agent] = append(perAgent[agent], r)
						all = append(all, r)
					}
					less := recordLess(order)
					sort.Slice(perAgent[agent], func(i, j int) bool { return less(perAgent[agent][i], perAgent[agent][j]) })
				}
				less := recordLess(order)
				sort.Slice(all, func(i, j int) bool { return less(all[i], all[j]) })
				var calls atomic.Int64
				fetch := pagedStore(perAgent, pageSize, &calls)
				clients := clientsNamed("a", "b", "c")
				cursor, _ := DecodeCursor("", order)
				var got []models.FlowRecord
				pages := 0
				for {
					page := PageFlows(context.Background(), clients, 2, pageSize, order, cursor, fetch)
					if len(page.Failed) > 0 {
						t.Fatal(page.Failed[0])
					}
					pages++
					if len(page.Records) > pageSize {
						t.Fatalf("page of %d > %d", len(page.Records), pageSize)
					}
					got = append(got, page.Records...)
					if page.NextCursor == "" {
						break
					}
					if pages > len(all)+2 {
						t.Fatal("paging does not end")
					}
					var err error
					if cursor, err = DecodeCursor(page.NextCursor, order); err != nil {
						t.Fatal(err)
					}
				}
				if len(got) != len(all) {
					t.Fatalf("got %d records, want %d", len(got), len(all))
				}
				for i := range all {
					if got[i].FlowID != all[i].FlowID {
						t.Fatalf("record %d: %s, want %s", i, got[i].FlowID, all[i].FlowID)
					}
				}
				if calls.Load() > int64(pages*2*3) {
					t.Errorf("%d fetches for %d pages: more than 2 per agent per page", calls.Load(), pages)
				}
			})
		}
	}
}

func TestPageFlowsReturnsOthersWhenOneAgentFails(t *testing.T) {
	var calls atomic.Int64
	ok := pagedStore(map[string][]models.FlowRecord{"a": {{FlowID: "a1", StartUs: 2}}, "c": {{FlowID: "c1", StartUs: 1}}}, 10, &calls)
	fetch := func(ctx context.Context, c *agentclient.Client, cursor string) (models.FlowsResult, error) {
		if c.Name == "b" {
			return models.FlowsResult{}, &agentclient.Error{Agent: "b", Kind: agentclient.KindRefused, Message: "connection refused"}
		}
		return ok(ctx, c, cursor)
	}
	cursor, _ := DecodeCursor("", "newest")
	page := PageFlows(context.Background(), clientsNamed("a", "b", "c"), 3, 10, "newest", cursor, fetch)
	if len(page.Records) != 2 || len(page.Failed) != 1 || page.Failed[0].Agent != "b" {
		t.Fatalf("page %+v", page)
	}
	if page.NextCursor == "" {
		t.Error("the failed agent has not been read: paging must not claim the end")
	}
}

func TestDecodeCursorRejectsForeignAndMismatchedCursors(t *testing.T) {
	if _, err := DecodeCursor("not base64 !", "newest"); err == nil {
		t.Error("garbage accepted")
	}
	c := EncodeCursor(CompositeCursor{Order: "oldest", Agents: map[string]AgentPosition{"a": {Skip: 1}}})
	if _, err := DecodeCursor(c, "newest"); err == nil {
		t.Error("order mismatch accepted")
	}
	if got, err := DecodeCursor(c, "oldest"); err != nil || got.Agents["a"].Skip != 1 {
		t.Errorf("round trip: %+v %v", got, err)
	}
}

func TestFanOutCapsConcurrencyAndSurvivesPanics(t *testing.T) {
	var running, peak atomic.Int64
	clients := clientsNamed("a", "b", "c", "d", "e", "f")
	outcomes := FanOut(context.Background(), clients, 2, func(_ context.Context, c *agentclient.Client) (int, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		switch c.Name {
		case "b":
			panic("boom")
		case "c":
			return 0, errors.New("plain failure")
		}
		return len(c.Name), nil
	})
	if peak.Load() > 2 {
		t.Errorf("peak concurrency %d > 2", peak.Load())
	}
	ok, failed := Split(outcomes)
	if len(ok) != 4 || len(failed) != 2 {
		t.Fatalf("ok %d failed %d", len(ok), len(failed))
	}
	if failed[0].Agent != "b" || failed[0].Kind != agentclient.KindInternal || failed[1].Message != "plain failure" {
		t.Errorf("failures %+v %+v", failed[0], failed[1])
	}
	notice := MissingAgentsNotice(failed, 6)
	if notice != "Partial data: 2 of 6 agents missing (b, c). agent b: internal error handling the reply: boom; agent c: plain failure" {
		t.Errorf("notice %q", notice)
	}
}
