// Package contract tests the plugin backend against REAL Flowmesh agents: the agent CLI
// imports captures (generated with gen-pcap when the CLI has it, else files of the shared
// tcpdump corpus) into DuckDB files and serves them over HTTP; the backend runs in-process
// over the real gRPC plugin protocol (experimental/datasourcetest) and as the built
// executable launched the way Grafana launches it (hashicorp go-plugin). Answers are
// compared with what the union of all agents' records says. Network faults (closed port,
// a listener that never answers, a server sending garbage) are injected next to real agents.
//
// Needs node and a built agent (cd /work/main && npm run build -w agent); without them
// every test skips with a loud message naming the missing piece.
package contract

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/flowmesh/flowmesh/plugin/pkg/models"
)

const sharedToken = "contract-shared-token"

// agentProc is one running agent.
type agentProc struct {
	Name  string
	URL   string
	Token string
	cmd   *exec.Cmd
	log   *bytes.Buffer
}

type harness struct {
	repoRoot string
	cli      string
	dir      string
	captures [][]string // per union agent: the capture files it imports
	// Agents of the union tests: different captures each.
	Union []*agentProc
	// Agents of the dedupe test: the same capture, different nodes and perspectives.
	Dedupe []*agentProc
	procs  []*agentProc
}

var (
	env        *harness
	skipReason string // a missing piece (node, agent build): tests skip loudly
	setupErr   error  // anything else: tests fail
)

func TestMain(m *testing.M) {
	// The in-process plugin logs every request at debug level; keep warnings only.
	backend.Logger = log.NewWithLevel(log.Warn)
	log.DefaultLogger = backend.Logger
	code := func() int {
		h, err := startHarness()
		if h != nil {
			defer h.stop()
		}
		var missing missingPiece
		switch {
		case errors.As(err, &missing):
			skipReason = missing.what
			fmt.Fprintf(os.Stderr, "\n!!! plugin contract tests will SKIP: %s\n\n", skipReason)
		case err != nil:
			setupErr = err
			fmt.Fprintf(os.Stderr, "\n!!! plugin contract test setup FAILED: %v\n\n", err)
		}
		env = h
		return m.Run()
	}()
	os.Exit(code)
}

// need skips the test loudly when the agent cannot run here; under CI that is a failure.
func need(t *testing.T) *harness {
	t.Helper()
	if skipReason != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must run the contract tests against real agents: %s", skipReason)
		}
		t.Logf("!!! SKIPPING %s: %s", t.Name(), skipReason)
		t.Skip(skipReason)
	}
	if setupErr != nil {
		t.Fatalf("real agents could not be started: %v", setupErr)
	}
	return env
}

type missingPiece struct{ what string }

func (m missingPiece) Error() string { return m.what }

func startHarness() (*harness, error) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return nil, err
	}
	h := &harness{repoRoot: root, cli: filepath.Join(root, "agent", "dist", "cli.js")}
	if _, err := exec.LookPath("node"); err != nil {
		return nil, missingPiece{"node is not installed (the agent is a Node program)"}
	}
	if _, err := os.Stat(h.cli); err != nil {
		return nil, missingPiece{"the agent is not built: " + h.cli + " missing (run `npm run build -w agent` in the repository root)"}
	}
	if h.dir, err = os.MkdirTemp("", "flowmesh-plugin-contract-"); err != nil {
		return nil, err
	}
	if err := h.prepareCaptures(); err != nil {
		return h, err
	}
	for i, name := range []string{"agent-a", "agent-b", "agent-c"} {
		token := sharedToken
		if name == "agent-c" {
			token = "agent-c-own-token" // exercises secureJsonData token.<agentName>
		}
		p, err := h.importAndServe(name, h.captures[i], token, nil)
		if err != nil {
			return h, err
		}
		h.Union = append(h.Union, p)
	}
	if err := h.startDedupeAgents(); err != nil {
		return h, err
	}
	return h, nil
}

// prepareCaptures makes three different captures: generated ones when the CLI offers
// gen-pcap, else three real captures from the shared corpus.
func (h *harness) prepareCaptures() error {
	help, _ := exec.Command("node", h.cli, "--help").Output()
	if strings.Contains(string(help), "gen-pcap") {
		genHelp, _ := exec.Command("node", h.cli, "gen-pcap", "--help").Output()
		for i, seed := range []int{101, 202, 303} {
			out := filepath.Join(h.dir, fmt.Sprintf("gen-%d.pcap", seed))
			truth := filepath.Join(h.dir, fmt.Sprintf("gen-%d.truth.json", seed))
			args := []string{"gen-pcap", "--seed", fmt.Sprint(seed), "--out", out, "--truth", truth}
			if strings.Contains(string(genHelp), "--flows") {
				args = append(args, "--flows", fmt.Sprint(150+50*i))
			}
			if _, err := h.node(120*time.Second, args...); err != nil {
				return err
			}
			h.captures = append(h.captures, []string{out})
		}
		return nil
	}
	fmt.Fprintln(os.Stderr, "plugin contract tests: the agent CLI has no gen-pcap; using shared corpus captures")
	corpus := filepath.Join(h.repoRoot, "..", "shared", "corpus", "tcpdump")
	h.captures = make([][]string, 3)
	for i, f := range corpusCaptures {
		p := filepath.Join(corpus, f)
		if _, err := os.Stat(p); err != nil {
			return missingPiece{"no gen-pcap in the agent CLI and corpus capture " + p + " missing"}
		}
		h.captures[i%3] = append(h.captures[i%3], p)
	}
	return nil
}

// corpusCaptures are tcpdump corpus files with a link type the agent decodes and at least
// three flow records each (about 460 records in all, many sharing multicast and
// well-known destinations across agents). Dealt round-robin to the three agents.
var corpusCaptures = []string{
	"pim-packet-assortment.pcap", "babel_update_oobr.pcap", "IGMP_V1.pcap", "afs.pcap", "resp_3_malicious.pcap",
	"dcb_ets.pcap", "forces3.pcap", "PIM-SM_join_prune.pcap", "vrrp.pcap", "resp_1_benchmark.pcap",
	"dhcp-rfc4388.pcap", "PIM-DM_pruning.pcap", "babel_rfc6126bis.pcap", "sflow_multiple_counter_30_pdus.pcap",
	"forces2.pcap", "eapon1.pcap", "babel.pcap", "OSPFv3_with_AH.pcap", "erspan-type-i-4.pcap", "bgp-4byte-asn.pcap",
	"bgp-bgpsec.pcap", "EIGRP_adjacency.pcap", "ldp-common-session.pcap", "geneve.pcap", "forces1.pcap",
	"OSPFv3_broadcast_adjacency.pcap", "of10_pf5240.pcap", "l2tp-avp-overflow.pcap", "erspan-type-ii-3.pcap",
	"bfd-multihop.pcap", "HSRP_failover.pcap", "HSRP_election.pcap", "HSRP_coup.pcap", "EIGRP_subnet_down.pcap",
}

func (h *harness) node(timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{h.cli}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("node agent %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func (h *harness) importAndServe(name string, captures []string, token string, localAddresses []string) (*agentProc, error) {
	db := filepath.Join(h.dir, name+".duckdb")
	args := append(append([]string{"import"}, captures...), "--db", db, "--node", name, "--log-level", "warn")
	for _, a := range localAddresses {
		args = append(args, "--local-address", a)
	}
	if _, err := h.node(180*time.Second, args...); err != nil {
		return nil, err
	}
	return h.serve(name, db, token)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (h *harness) serve(name, db, token string) (*agentProc, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &agentProc{Name: name, URL: "http://" + addr, Token: token, log: &bytes.Buffer{}}
	p.cmd = exec.Command("node", h.cli, "serve", "--db", db, "--listen", addr, "--token", token, "--node", name, "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	h.procs = append(h.procs, p)
	if p.waitHealthy(http.DefaultClient) {
		return p, nil
	}
	return nil, fmt.Errorf("agent %s did not become healthy at %s:\n%s", name, p.URL, p.log.String())
}

// waitHealthy polls the agent's /health through client until it answers 200 (true), or its
// process is gone or 60 s have passed (false).
func (p *agentProc) waitHealthy(client *http.Client) bool {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(p.URL + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

// stopProcess ends a started process: SIGTERM, then SIGKILL when it has not exited within
// grace. It waits for the process either way.
func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// startDedupeAgents imports one capture twice: "dd-1-out" treats every initiator address
// as its own (outbound), "dd-2-in" every responder address (inbound). Both report the
// same connections (same Community IDs).
func (h *harness) startDedupeAgents() error {
	args := append(append([]string{"import"}, h.captures[0]...), "--jsonl", "-", "--node", "probe", "--log-level", "warn")
	out, err := h.node(180*time.Second, args...)
	if err != nil {
		return err
	}
	srcs, dsts := map[string]bool{}, map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r models.FlowRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.SrcIP != "" {
			srcs[r.SrcIP], dsts[r.DstIP] = true, true
		}
	}
	if len(srcs) == 0 {
		return fmt.Errorf("import --jsonl of %s gave no records", h.captures[0])
	}
	a, err := h.importAndServe("dd-1-out", h.captures[0], sharedToken, keys(srcs, 200))
	if err != nil {
		return err
	}
	b, err := h.importAndServe("dd-2-in", h.captures[0], sharedToken, keys(dsts, 200))
	if err != nil {
		return err
	}
	h.Dedupe = []*agentProc{a, b}
	return nil
}

func keys(m map[string]bool, limit int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (h *harness) stop() {
	for _, p := range h.procs {
		if p.cmd.Process != nil {
			stopProcess(p.cmd, 10*time.Second)
		}
	}
	if h.dir != "" {
		_ = os.RemoveAll(h.dir)
	}
}

// agentQuery posts a query straight to an agent: the oracle side of the comparisons.
func agentQuery(t *testing.T, p *agentProc, q models.Query, out any) {
	t.Helper()
	body, _ := json.Marshal(q)
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/api/v1/query", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("agent %s: %v", p.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e models.ApiError
		_ = json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("agent %s: HTTP %d %+v for %s", p.Name, resp.StatusCode, e, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("agent %s: %v", p.Name, err)
	}
}

// allTime covers every record of the test captures (old corpus files included).
const allFrom, allTo = int64(0), int64(4102444800000)

// allRecords pages through each agent's flows directly.
func allRecords(t *testing.T, agents ...*agentProc) map[string][]models.FlowRecord {
	t.Helper()
	out := map[string][]models.FlowRecord{}
	for _, p := range agents {
		cursor := ""
		for page := 0; ; page++ {
			if page > 1000 {
				t.Fatalf("agent %s: paging does not end", p.Name)
			}
			var res models.FlowsResult
			agentQuery(t, p, models.Query{Kind: "flows", From: allFrom, To: allTo, Order: "newest", Limit: models.Int64(500), Cursor: cursor}, &res)
			out[p.Name] = append(out[p.Name], res.Records...)
			if res.NextCursor == nil {
				break
			}
			cursor = *res.NextCursor
		}
	}
	return out
}
