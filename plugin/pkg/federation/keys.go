package federation

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// FormatValue renders one key value as text: numbers without exponent, null as "".
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// keyOf is the canonical identity of a group: its values in dims order. Null and "" differ.
func keyOf(key models.GroupKey, dims []string) string {
	var b strings.Builder
	for i, d := range dims {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		v := key[d]
		if v == nil {
			b.WriteByte(0)
			continue
		}
		b.WriteString(FormatValue(v))
	}
	return b.String()
}

// project keeps only dims of key.
func project(key models.GroupKey, dims []string) models.GroupKey {
	out := make(models.GroupKey, len(dims))
	for _, d := range dims {
		out[d] = key[d]
	}
	return out
}
