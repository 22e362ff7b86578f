package discovery

import (
	"fmt"
	"regexp"
	"strings"
)

// candidate is one found agent's possible names, shortest first: the name it should get
// (a node label, the first label of a host name), then longer ones that tell apart agents
// whose short names collide (the full host name, then host and port).
type candidate struct {
	names []string
	agent Agent
}

var notNameChar = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// sanitize makes text a valid agent name (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit).
func sanitize(text string) string {
	s := notNameChar.ReplaceAllString(text, "-")
	s = strings.TrimLeft(s, "._-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// assignNames gives each candidate the shortest of its names that no other candidate of the
// same source shares, numbering what still collides.
func assignNames(cands []candidate) []Agent {
	out := make([]Agent, len(cands))
	level := make([]int, len(cands))
	for {
		counts := map[string]int{}
		for i, c := range cands {
			counts[nameAt(c, level[i])]++
		}
		changed := false
		for i, c := range cands {
			if counts[nameAt(c, level[i])] > 1 && level[i] < len(c.names)-1 {
				level[i]++
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	seen := map[string]int{}
	for i, c := range cands {
		name := nameAt(c, level[i])
		seen[name]++
		if seen[name] > 1 {
			suffix := fmt.Sprintf("-%d", seen[name])
			name = strings.TrimRight(name[:min(len(name), 64-len(suffix))], "._-") + suffix
		}
		out[i] = c.agent
		out[i].Name = name
	}
	return out
}

func nameAt(c candidate, level int) string {
	name := sanitize(c.names[min(level, len(c.names)-1)])
	if name == "" {
		return "agent"
	}
	return name
}
