package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

// dnsFinder looks up SRV records: every target host and port is an agent at
// scheme://target:port, named by the target's first label (the full host name, then host and
// port, when first labels collide). With a configured resolver the lookups go to it, and the
// agents' host names are later resolved by it too (models.AgentConfig.Resolver).
type dnsFinder struct {
	cfg      models.DNSDiscovery
	resolver *net.Resolver
}

func newDNSFinder(cfg models.DNSDiscovery) *dnsFinder {
	r := net.DefaultResolver
	if cfg.Resolver != "" {
		r = agentclient.ResolverAt(cfg.Resolver)
	}
	return &dnsFinder{cfg: cfg, resolver: r}
}

func (f *dnsFinder) source() Source { return SourceDNS }

func (f *dnsFinder) origin() string {
	o := strings.Join(f.cfg.Names, ", ")
	if f.cfg.Resolver != "" {
		o += " @" + f.cfg.Resolver
	}
	return o
}

func (f *dnsFinder) find(ctx context.Context) ([]Agent, error) {
	var cands []candidate
	seen := map[string]bool{}
	at := ""
	if f.cfg.Resolver != "" {
		at = " @" + f.cfg.Resolver
	}
	for _, name := range f.cfg.Names {
		records, err := f.lookup(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, srv := range records {
			host := strings.TrimSuffix(srv.Target, ".")
			if host == "" { // "." means: no such service here
				continue
			}
			hostPort := net.JoinHostPort(host, strconv.Itoa(int(srv.Port)))
			if seen[hostPort] {
				continue
			}
			seen[hostPort] = true
			first, _, _ := strings.Cut(host, ".")
			cands = append(cands, candidate{
				names: []string{first, host, host + "-" + strconv.Itoa(int(srv.Port))},
				agent: Agent{
					AgentConfig: models.AgentConfig{URL: f.cfg.Scheme + "://" + hostPort, Resolver: f.cfg.Resolver},
					Source:      SourceDNS,
					Origin:      name + at,
				},
			})
		}
	}
	return assignNames(cands), nil
}

// lookup returns name's SRV records sorted by target and port; a name that does not exist
// (NXDOMAIN, no SRV records) is an empty answer, not an error: every agent it listed vanished.
func (f *dnsFinder) lookup(ctx context.Context, name string) ([]*net.SRV, error) {
	_, records, err := f.resolver.LookupSRV(ctx, "", "", name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil, nil
	}
	if err != nil {
		where := "the system resolver"
		if f.cfg.Resolver != "" {
			where = f.cfg.Resolver
		}
		return nil, fmt.Errorf("SRV lookup of %s at %s failed: %w", name, where, err)
	}
	sort.Slice(records, func(i, j int) bool {
		if records[i].Target != records[j].Target {
			return records[i].Target < records[j].Target
		}
		return records[i].Port < records[j].Port
	})
	return records, nil
}
