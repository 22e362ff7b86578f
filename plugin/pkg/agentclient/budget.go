package agentclient

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Budget is the memory one agent's replies may take within one panel query: the query's
// bound split equally over the agents it asks (NewShares), so a flooding agent cannot
// starve the others' answers of memory. Reply bytes are counted as they are read; they are
// not given back when a reply has been decoded, because the decoded answers stay in memory
// until the query's merge is done and their size follows the bytes read.
type Budget struct {
	mu     sync.Mutex
	limit  int64
	left   int64
	total  int64 // the query's whole bound
	shares int   // how many agents split it
}

// NewShares splits a query's bound of total bytes equally over n agents.
func NewShares(total int64, n int) []*Budget {
	shares := make([]*Budget, n)
	for i := range shares {
		limit := total / int64(max(n, 1))
		shares[i] = &Budget{limit: limit, left: limit, total: total, shares: n}
	}
	return shares
}

// describe says what ran out, for the error message.
func (b *Budget) describe() string {
	if b.shares == 1 {
		return fmt.Sprintf("the query's memory bound for agent replies (%d MiB, maxQueryMemoryMB)", b.total>>20)
	}
	return fmt.Sprintf("this agent's share of the query's memory bound for agent replies (%d MiB: maxQueryMemoryMB %d MiB split over the %d agents asked)",
		b.limit>>20, b.total>>20, b.shares)
}

// reserve takes up to n bytes and returns how many it took (0 once the budget is spent).
func (b *Budget) reserve(n int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.left)
	b.left -= n
	return n
}

// refund gives back bytes reserved but not read.
func (b *Budget) refund(n int64) {
	b.mu.Lock()
	b.left += n
	b.mu.Unlock()
}

var errBudgetSpent = errors.New("the query's memory bound for agent replies is spent")

// meteredReader reads a reply body within a budget and remembers why reading stopped, so
// a decoding error can be told apart from a spent budget or a broken connection.
type meteredReader struct {
	body    io.Reader
	budget  *Budget
	spent   bool
	readErr error
	read    int64
	// prefix is the reply's first bytes, quoted when it is not JSON at all (an HTML error page...).
	prefix []byte
}

const prefixBytes = 200

// start is the reply's beginning as text, for messages.
func (r *meteredReader) start() string {
	s := strings.TrimSpace(string(r.prefix))
	if r.read > int64(len(r.prefix)) {
		s += "..."
	}
	return s
}

func (r *meteredReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	granted := r.budget.reserve(int64(len(p)))
	if granted == 0 {
		r.spent = true
		return 0, errBudgetSpent
	}
	n, err := r.body.Read(p[:granted])
	r.budget.refund(granted - int64(n))
	r.read += int64(n)
	if len(r.prefix) < prefixBytes {
		r.prefix = append(r.prefix, p[:min(n, prefixBytes-len(r.prefix))]...)
	}
	if err != nil && err != io.EOF {
		r.readErr = err
	}
	return n, err
}
