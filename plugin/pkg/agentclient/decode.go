package agentclient

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/goccy/go-json"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Replies are decoded as they stream in: member by member, and the big lists (records,
// rows, series, values) entry by entry, counted against what the query asked for. An agent
// answers at most what was asked (a page of `limit` records, `limit` top rows, one value per
// bucket...), so a longer list is a bad reply, refused at the first entry too many instead
// of after reading all of it; and the agent's share of the query's memory bound (Budget)
// stops a reply that is merely big.
// goccy/go-json instead of encoding/json: a drop-in decoder about 5x faster on a 100-record
// flows page (BenchmarkDecodeFlowsPage), which was most of what federation costs per agent.

// The agent's defaults for the limits a query may leave out (QuerySchema).
const (
	agentDefaultFlowsLimit  = 1000
	agentDefaultTopLimit    = 10
	agentDefaultValuesLimit = 100
	agentDefaultSplitLimit  = 10
)

// replyLimits are the most entries each list member of q's reply may hold (a member that is
// not here is unbounded by the query; the Budget still bounds it).
func replyLimits(q models.Query) map[string]int {
	limit := func(def int) int {
		if q.Limit == nil {
			return def
		}
		return int(*q.Limit)
	}
	switch q.Kind {
	case models.KindFlows:
		return map[string]int{"records": limit(agentDefaultFlowsLimit)}
	case models.KindTop:
		if n := limit(agentDefaultTopLimit); n > 0 { // 0 asks for every group
			return map[string]int{"rows": n}
		}
	case models.KindValues:
		return map[string]int{"values": limit(agentDefaultValuesLimit)}
	case models.KindTimeseries:
		limits := map[string]int{}
		if q.IntervalMs > 0 && q.To > q.From {
			interval := float64(q.IntervalMs)
			limits["times"] = int(math.Ceil(float64(q.To)/interval) - math.Floor(float64(q.From)/interval))
		}
		split := agentDefaultSplitLimit
		if q.SplitLimit != nil {
			split = int(*q.SplitLimit)
		}
		switch {
		case len(q.SplitBy) == 0:
			limits["series"] = 1
		case split > 0: // the top split_limit series plus "other"; 0 asks for every series
			limits["series"] = split + 1
		}
		return limits
	}
	return nil
}

// decodeReply reads one result object of q.Kind from r into out (a pointer to that kind's
// result struct: the reply must carry every member not tagged omitempty) and checks it.
func (c *Client) decodeReply(r *meteredReader, q models.Query, out any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	err := decodeObject(dec, q, out)
	if err == nil {
		if _, trailing := dec.Token(); trailing != io.EOF {
			err = replyError{"trailing data after the JSON object"}
		}
	}
	if err == nil {
		if v, ok := out.(interface{ Check() error }); ok {
			if err := v.Check(); err != nil {
				return c.fail(KindBadReply, 0, "bad "+q.Kind+" reply: "+err.Error(), err)
			}
		}
		return nil
	}
	var tooMany listTooLong
	var reply replyError
	if r.spent || errors.As(err, &tooMany) {
		releaseMemorySoon()
	}
	switch {
	case r.spent:
		return c.fail(KindMemory, 0, fmt.Sprintf("reply not used: %s ran out after %d MiB of this reply; narrow the time range or filters, lower the limit, or raise maxQueryMemoryMB", r.budget.describe(), r.read>>20), err)
	case errors.As(err, &tooMany):
		return c.fail(KindBadReply, 0, fmt.Sprintf("bad %s reply: %s has more than the %d entries the query asked for", q.Kind, tooMany.member, tooMany.max), err)
	case errors.As(err, &reply):
		return c.fail(KindBadReply, 0, fmt.Sprintf("bad %s reply: %s", q.Kind, reply.what), err)
	case isSyntaxError(err):
		return c.fail(KindBadReply, 0, fmt.Sprintf("bad JSON in reply: %v (starts with %q)", err, r.start()), err)
	}
	return c.fail(KindBadReply, 0, fmt.Sprintf("bad %s reply: %v", q.Kind, err), err)
}

// releasePending is set while a release of memory to the OS is scheduled.
var releasePending atomic.Bool

// releaseMemorySoon gives the memory of a reply refused half-way back to the OS. Its partial
// decode is garbage, which Go would return only minutes later (at a forced collection, then
// slowly); a flooding agent would leave the plugin holding hundreds of MiB. One second leaves
// the query time to finish, and one release serves every refusal of that second.
func releaseMemorySoon() {
	if releasePending.CompareAndSwap(false, true) {
		time.AfterFunc(time.Second, func() {
			releasePending.Store(false)
			debug.FreeOSMemory()
		})
	}
}

// replyError is a reply that is JSON but not the result asked for.
type replyError struct{ what string }

func (e replyError) Error() string { return e.what }

// listTooLong is a list member with more entries than the query can produce.
type listTooLong struct {
	member string
	max    int
}

func (e listTooLong) Error() string { return fmt.Sprintf("%s: more than %d entries", e.member, e.max) }

func isSyntaxError(err error) bool {
	var syntax *json.SyntaxError
	return errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// decodeObject walks the reply's top-level object member by member.
func decodeObject(dec *json.Decoder, q models.Query, out any) error {
	required, members := resultMembers(out)
	if err := expectDelim(dec, '{', "the reply must be a JSON object"); err != nil {
		return err
	}
	limits := replyLimits(q)
	seen := map[string]bool{}
	for dec.More() {
		token, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := token.(string)
		field, known := members[name]
		switch {
		case !known:
			return replyError{fmt.Sprintf("unknown member %q", name)}
		case seen[name]:
			return replyError{fmt.Sprintf("member %q appears twice", name)}
		}
		seen[name] = true
		if max, bounded := limits[name]; bounded {
			err = decodeList(dec, field, name, max)
		} else {
			err = dec.Decode(field.Addr().Interface())
		}
		if err != nil {
			return err
		}
		if name == "kind" && field.String() != q.Kind {
			return replyError{fmt.Sprintf("kind %q, expected %q", field.String(), q.Kind)}
		}
	}
	if err := expectDelim(dec, '}', "the reply object is not closed"); err != nil {
		return err
	}
	for _, name := range required {
		if !seen[name] {
			return replyError{fmt.Sprintf("%s result lacks member %q", q.Kind, name)}
		}
	}
	return nil
}

// decodeList decodes a JSON list into the slice field one entry at a time, refusing entry max+1.
func decodeList(dec *json.Decoder, field reflect.Value, name string, max int) error {
	switch list := field.Addr().Interface().(type) {
	case *[]models.FlowRecord:
		return decodeEntries(dec, list, name, max)
	case *[]models.TopRow:
		return decodeEntries(dec, list, name, max)
	case *[]models.Series:
		return decodeEntries(dec, list, name, max)
	case *[]models.ValueCount:
		return decodeEntries(dec, list, name, max)
	case *[]int64:
		return decodeEntries(dec, list, name, max)
	}
	return fmt.Errorf("internal: no list decoder for member %s (%s)", name, field.Type())
}

// decodeEntries decodes each entry straight into its place in the list (no copy, no allocation per entry).
func decodeEntries[T any](dec *json.Decoder, list *[]T, name string, max int) error {
	if err := expectDelim(dec, '[', name+" must be a list"); err != nil {
		return err
	}
	entries := []T{}
	for dec.More() {
		if len(entries) >= max {
			return listTooLong{member: name, max: max}
		}
		var zero T
		entries = append(entries, zero)
		if err := dec.Decode(&entries[len(entries)-1]); err != nil {
			return fmt.Errorf("%s[%d]: %w", name, len(entries)-1, err)
		}
	}
	if err := expectDelim(dec, ']', name+" is not closed"); err != nil {
		return err
	}
	*list = entries
	return nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	token, err := dec.Token()
	if err != nil {
		return err
	}
	if token != want {
		return replyError{what}
	}
	return nil
}

// resultMembers maps each JSON member name of the result struct out points to onto its
// field, and lists the required ones (not omitempty) in the struct's order.
func resultMembers(out any) (required []string, members map[string]reflect.Value) {
	v := reflect.ValueOf(out).Elem()
	members = make(map[string]reflect.Value, v.NumField())
	for i := range v.NumField() {
		name, options, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		members[name] = v.Field(i)
		if !strings.Contains(","+options+",", ",omitempty,") {
			required = append(required, name)
		}
	}
	return required, members
}
