package agentclient

import (
	"context"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"sync"
	"time"
)

// versionCheckTTL is how long a successful (or mismatching) /info answer is trusted.
const versionCheckTTL = time.Minute

type versionCache struct {
	mu      sync.Mutex
	checked time.Time
	err     error
}

// CheckVersion makes sure the agent speaks our api_version before it is queried, asking
// /info at most once a minute. Transient failures are not cached.
func (c *Client) CheckVersion(ctx context.Context) error {
	c.version.mu.Lock()
	if time.Since(c.version.checked) < versionCheckTTL {
		err := c.version.err
		c.version.mu.Unlock()
		return err
	}
	c.version.mu.Unlock()
	_, err := c.Info(ctx)
	if err == nil || AsError(c.Name, err).Kind == KindVersion {
		c.version.mu.Lock()
		c.version.checked, c.version.err = time.Now(), err
		c.version.mu.Unlock()
	}
	return err
}

// QueryChecked is Query after CheckVersion.
func (c *Client) QueryChecked(ctx context.Context, q models.Query, out any) error {
	if err := c.CheckVersion(ctx); err != nil {
		return err
	}
	return c.Query(ctx, q, out)
}
