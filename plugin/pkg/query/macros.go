package query

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// Server-side macros. Dashboards interpolate variables in the frontend before the query
// reaches the backend; alert rules do not, so the backend resolves the built-in macros
// ($__from, $__to, $__interval, $__interval_ms, $__range_ms, also as ${...}) and turns
// multi-value results that reach it ("{a,b}" glob format, "$__all") into in/nin filters.
// Any other variable still present is an error that names it: silently sending "$src_ip"
// to an agent would match nothing.

type macros map[string]string

var variablePattern = regexp.MustCompile(`\$\{([A-Za-z0-9_.]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)\]\]`)

func newMacros(qc Context, p Plan) macros {
	interval := qc.Interval
	if interval <= 0 {
		interval = time.Duration(max((p.To-p.From)/maxBuckets, models.MinIntervalMs)) * time.Millisecond
	}
	return macros{
		"__from":        strconv.FormatInt(p.From, 10),
		"__to":          strconv.FormatInt(p.To, 10),
		"__interval_ms": strconv.FormatInt(interval.Milliseconds(), 10),
		"__interval":    formatDuration(interval),
		"__range_ms":    strconv.FormatInt(p.To-p.From, 10),
	}
}

// expandString replaces macros in s; an unknown variable is an error naming where it is.
func (m macros) expandString(s, where string) (string, error) {
	var unresolved string
	out := variablePattern.ReplaceAllStringFunc(s, func(ref string) string {
		sub := variablePattern.FindStringSubmatch(ref)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := m[name]; ok {
			return v
		}
		if name == "__all" {
			return ref
		}
		if unresolved == "" {
			unresolved = ref
		}
		return ref
	})
	if unresolved != "" {
		return "", fmt.Errorf("%s: template variable %s is not resolved (alert rules and other backend-only requests cannot use dashboard variables; use a literal value)", where, unresolved)
	}
	return out, nil
}

// expandMulti splits Grafana's glob multi-value format "{a,b,c}" into its values.
func expandMulti(s string) []string {
	if len(s) >= 2 && strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && !strings.Contains(s, "\"") {
		return strings.Split(s[1:len(s)-1], ",")
	}
	return []string{s}
}

// numericDimensions take numbers; interpolated variables arrive as strings.
var numericDimensions = []string{"src_port", "dst_port", "port", "ip_version"}

// normalizeFilters resolves macros and multi-values and checks each filter's shape.
func normalizeFilters(in []models.Filter, m macros) ([]models.Filter, error) {
	out := make([]models.Filter, 0, len(in))
	for i, f := range in {
		where := fmt.Sprintf("filters[%d] (%s %s)", i, f.Field, f.Op)
		if err := checkShape(f, where); err != nil {
			return nil, err
		}
		switch f.Op {
		case "eq", "neq", "in", "nin":
			if !models.Contains(models.NumericFields, f.Field) || f.Op == "in" || f.Op == "nin" {
				nf, keep, err := normalizeMembership(f, m, where)
				if err != nil {
					return nil, err
				}
				if keep {
					out = append(out, nf)
				}
				continue
			}
		}
		if s, ok := f.Value.(string); ok {
			v, err := m.expandString(s, where)
			if err != nil {
				return nil, err
			}
			f.Value = v
			if models.Contains(models.NumericFields, f.Field) {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: value %q is not a number", where, v)
				}
				f.Value = n
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// normalizeMembership turns eq/neq/in/nin with possibly multi-valued strings into the
// simplest equivalent filter; "$__all" drops the filter (keep=false).
func normalizeMembership(f models.Filter, m macros, where string) (models.Filter, bool, error) {
	raw := f.Values
	if f.Op == "eq" || f.Op == "neq" {
		raw = []any{f.Value}
	}
	var values []any
	for _, v := range raw {
		s, isString := v.(string)
		if !isString {
			values = append(values, numberOrValue(v))
			continue
		}
		for _, part := range expandMulti(s) {
			if part == "$__all" || part == "${__all}" {
				return f, false, nil
			}
			expanded, err := m.expandString(part, where)
			if err != nil {
				return f, false, err
			}
			values = append(values, typed(f.Field, expanded))
		}
	}
	negate := f.Op == "neq" || f.Op == "nin"
	if len(values) == 1 {
		op := "eq"
		if negate {
			op = "neq"
		}
		return models.Filter{Field: f.Field, Op: op, Value: values[0]}, true, nil
	}
	op := "in"
	if negate {
		op = "nin"
	}
	return models.Filter{Field: f.Field, Op: op, Values: values}, true, nil
}

func typed(field, v string) any {
	if models.Contains(numericDimensions, field) {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return v
}

func numberOrValue(v any) any {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i
		}
		if f, err := n.Float64(); err == nil {
			return f
		}
	}
	return v
}

var allowedOps = map[string][]string{}

func init() {
	for _, d := range append(append([]string{}, models.Dimensions...), models.EitherSideFields...) {
		allowedOps[d] = []string{"eq", "neq", "in", "nin"}
	}
	for _, f := range []string{"src_ip", "dst_ip", "ip"} {
		allowedOps[f] = append(allowedOps[f], "cidr", "not_cidr")
	}
	for _, f := range []string{"src_port", "dst_port", "port"} {
		allowedOps[f] = append(allowedOps[f], "range")
	}
	for _, f := range models.NumericFields {
		allowedOps[f] = []string{"gt", "gte", "lt", "lte", "eq", "neq"}
	}
	for _, f := range models.FlagFields {
		allowedOps[f] = []string{"has_all", "has_any", "has_none"}
	}
	allowedOps["text"] = []string{"contains"}
}

func checkShape(f models.Filter, where string) error {
	ops, ok := allowedOps[f.Field]
	if !ok {
		return fmt.Errorf("%s: unknown field %q", where, f.Field)
	}
	if !models.Contains(ops, f.Op) {
		return fmt.Errorf("%s: op %q does not apply to %s; use one of %v", where, f.Op, f.Field, ops)
	}
	switch f.Op {
	case "in", "nin":
		if len(f.Values) == 0 {
			return fmt.Errorf("%s: needs a non-empty values list", where)
		}
	case "range":
		if f.Min == nil || f.Max == nil {
			return fmt.Errorf("%s: needs min and max", where)
		}
	case "has_all", "has_any", "has_none":
		if len(f.Flags) == 0 {
			return fmt.Errorf("%s: needs flags, e.g. [\"SYN\"]", where)
		}
		for _, fl := range f.Flags {
			if !models.Contains(models.TCPFlagNames, fl) {
				return fmt.Errorf("%s: flag %q is not one of %v", where, fl, models.TCPFlagNames)
			}
		}
	default:
		if f.Value == nil {
			return fmt.Errorf("%s: needs a value", where)
		}
	}
	return nil
}

// bucketWidth picks the time series bucket: the query's interval if set (a duration or a
// macro), else Grafana's $__interval, never below 1s and never more than maxBuckets
// (or MaxDataPoints) buckets over the range.
func bucketWidth(interval string, qc Context, rangeMs int64, m macros) (int64, error) {
	ms := qc.Interval.Milliseconds()
	if s := strings.TrimSpace(interval); s != "" {
		expanded, err := m.expandString(s, "interval")
		if err != nil {
			return 0, err
		}
		d, err := parseDuration(expanded)
		if err != nil {
			return 0, fmt.Errorf("interval %q: %v", interval, err)
		}
		ms = d.Milliseconds()
	}
	points := int64(maxBuckets)
	if qc.MaxDataPoints > 0 && qc.MaxDataPoints < points {
		points = qc.MaxDataPoints
	}
	ms = max(ms, (rangeMs+points-1)/points, models.MinIntervalMs)
	return ms, nil
}

// parseDuration accepts Go durations plus d (day) and w (week) units and bare ms numbers.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	for unit, d := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, unit); ok {
			v, err := strconv.ParseFloat(n, 64)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("not a duration (use e.g. 30s, 5m, 1h, 1d)")
			}
			return time.Duration(v * float64(d)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("not a duration (use e.g. 30s, 5m, 1h, 1d)")
	}
	return d, nil
}

func formatDuration(d time.Duration) string {
	ms := d.Milliseconds()
	for _, u := range []struct {
		suffix string
		ms     int64
	}{{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}} {
		if ms >= u.ms && ms%u.ms == 0 {
			return strconv.FormatInt(ms/u.ms, 10) + u.suffix
		}
	}
	return strconv.FormatInt(ms, 10) + "ms"
}
