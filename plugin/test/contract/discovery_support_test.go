package contract

// What the discovery and TLS contract tests need besides the agents of the harness: the
// plugin executable built once, gates for root and tools, a real Prometheus (Debian's) on
// loopback scraping the agents, and dnsmasq serving SRV records inside a network namespace.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/agentclient"
)

var (
	executableOnce sync.Once
	executablePath string
	executableErr  error
)

// sharedExecutable builds the backend once for the tests that launch it as Grafana does.
func sharedExecutable(t *testing.T, h *harness) string {
	t.Helper()
	executableOnce.Do(func() {
		executablePath = filepath.Join(h.dir, "gpx_flowmesh_linux_amd64")
		cmd := exec.Command("go", "build", "-tags", "arrow_json_stdlib", "-o", executablePath, "./pkg")
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			executableErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if executableErr != nil {
		t.Fatal(executableErr)
	}
	return executablePath
}

// needTool skips loudly without tool (failing under CI, where the set-up installs it).
func needTool(t *testing.T, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run %s, but %s is missing (scripts/bootstrap.sh --test installs it)", t.Name(), tool)
	}
	t.Logf("!!! SKIPPING %s: %s is missing (scripts/bootstrap.sh --test installs it)", t.Name(), tool)
	t.Skip(tool + " missing")
	return ""
}

// needRoot skips loudly when not root (network namespaces), failing under CI.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI must run %s as root (network namespaces)", t.Name())
	}
	t.Logf("!!! SKIPPING %s: needs root (a network namespace for the DNS server)", t.Name())
	t.Skip("not root")
}

// summaryBytes runs a summary query and returns its byte total and notices.
func summaryBytes(t *testing.T, c backendClient, s *dsSettings, tr timeRange, model map[string]any) (float64, []string) {
	t.Helper()
	model["queryType"] = "summary"
	frames := mustOK(t, run(t, c, s, tr, model))
	var texts []string
	for _, n := range notices(frames) {
		texts = append(texts, n.Text)
	}
	if len(frames) == 0 || len(frames[0].Fields) == 0 {
		return 0, texts
	}
	return floatAt(field(t, frames[0], "bytes"), 0), texts
}

func joinNotices(n []string) string { return strings.Join(n, " | ") }

// healthText is the health check's message plus its verbose details.
func healthText(t *testing.T, c backendClient, s *dsSettings) (string, string) {
	t.Helper()
	res := checkHealth(t, c, s)
	var details struct {
		Verbose string `json:"verboseMessage"`
	}
	_ = json.Unmarshal(res.JSONDetails, &details)
	return res.Status.String() + ": " + res.Message, details.Verbose
}

// ---- Prometheus ----

type prometheusProc struct {
	URL    string
	config string
	cmd    *exec.Cmd
	log    *bytes.Buffer
}

type scrapeTarget struct {
	agent *agentProc
	node  string // the `node` label ("" = none)
}

func prometheusConfig(job string, targets []scrapeTarget) string {
	var b strings.Builder
	b.WriteString("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n")
	fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n", job)
	for _, tg := range targets {
		host := strings.TrimPrefix(tg.agent.URL, "http://")
		fmt.Fprintf(&b, "      - targets: ['%s']\n", host)
		if tg.node != "" {
			fmt.Fprintf(&b, "        labels: {node: %s}\n", tg.node)
		}
	}
	// another job on the same Prometheus: its targets are not agents
	b.WriteString("  - job_name: node-exporter\n    static_configs:\n      - targets: ['127.0.0.1:9']\n        labels: {node: not-an-agent}\n")
	return b.String()
}

// startPrometheus runs Debian's prometheus on a free loopback port with a generated config.
func startPrometheus(t *testing.T, h *harness, job string, targets []scrapeTarget) *prometheusProc {
	t.Helper()
	bin := needTool(t, "prometheus")
	addr, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &prometheusProc{URL: "http://" + addr, config: filepath.Join(dir, "prometheus.yml"), log: &bytes.Buffer{}}
	if err := os.WriteFile(p.config, []byte(prometheusConfig(job, targets)), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--config.file="+p.config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.enable-lifecycle", "--log.level=warn")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	p.waitForTargets(t, job, len(targets))
	return p
}

func (p *prometheusProc) stop() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	stopProcess(p.cmd, 15*time.Second)
}

// reload writes a new config and asks Prometheus to load it (POST /-/reload).
func (p *prometheusProc) reload(t *testing.T, job string, targets []scrapeTarget) {
	t.Helper()
	if err := os.WriteFile(p.config, []byte(prometheusConfig(job, targets)), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.URL+"/-/reload", "text/plain", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("prometheus reload: %v %v\n%s", err, resp, p.log.String())
	}
	resp.Body.Close()
	p.waitForTargets(t, job, len(targets))
}

// waitForTargets waits (bounded) until Prometheus lists exactly n active targets of job.
func (p *prometheusProc) waitForTargets(t *testing.T, job string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if p.cmd.ProcessState != nil {
			break
		}
		resp, err := http.Get(p.URL + "/api/v1/targets?state=active")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(body)
			var reply struct {
				Data struct {
					ActiveTargets []struct {
						Labels map[string]string `json:"labels"`
					} `json:"activeTargets"`
				} `json:"data"`
			}
			if json.Unmarshal(body, &reply) == nil {
				count := 0
				for _, tg := range reply.Data.ActiveTargets {
					if tg.Labels["job"] == job {
						count++
					}
				}
				if count == n {
					return
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("prometheus did not list %d targets of job %s within 60 s; last answer %s\nlog:\n%s", n, job, last, p.log.String())
}

// ---- dnsmasq in a network namespace ----

// dnsNamespace is a network namespace joined to the root namespace by a veth pair, with
// dnsmasq answering on the namespace side. Names follow the lab's fm-<id>-<role> rule and the
// subnet is claimed like the lab's underlays, so lab/scripts/cleanup removes leftovers.
type dnsNamespace struct {
	name, rootLink string
	claim          string
	ServerIP       string
	dnsmasq        *exec.Cmd
	dnsmasqLog     *bytes.Buffer
	dir            string
}

const claimDir = "/run/flowmesh-lab"

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// claimSubnet takes a free 10.204.N.0/30 (a claim file per subnet, stale claims taken over,
// none with a root-namespace address in it already).
func claimSubnet() (prefix, claim string, err error) {
	if err := os.MkdirAll(claimDir, 0o755); err != nil {
		return "", "", err
	}
	addrs, _ := exec.Command("ip", "-br", "addr").Output()
	for n := 0; n < 64; n++ {
		prefix = fmt.Sprintf("10.204.%d", n)
		claim = filepath.Join(claimDir, "underlay-"+prefix)
		f, err := os.OpenFile(claim, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			owner := 0
			if b, rerr := os.ReadFile(claim); rerr == nil {
				_, _ = fmt.Sscanf(string(b), "%d", &owner)
			}
			if owner > 0 && syscall.Kill(owner, 0) == nil {
				continue
			}
			_ = os.Remove(claim)
			if f, err = os.OpenFile(claim, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err != nil {
				continue
			}
		} else if err != nil {
			return "", "", err
		}
		fmt.Fprintf(f, "%d plugin-contract\n", os.Getpid())
		f.Close()
		if bytes.Contains(addrs, []byte(" "+prefix+".")) {
			_ = os.Remove(claim)
			continue
		}
		return prefix, claim, nil
	}
	return "", "", errors.New("no free 10.204.N.0/30 (claims in " + claimDir + "; leftovers: lab/scripts/cleanup)")
}

func newDNSNamespace(t *testing.T) *dnsNamespace {
	t.Helper()
	needRoot(t)
	needTool(t, "dnsmasq")
	id := make([]byte, 2)
	_, _ = rand.Read(id)
	tag := "fm-" + hex.EncodeToString(id)
	d := &dnsNamespace{name: tag + "-dns", rootLink: tag + "-dnsr", dir: t.TempDir()}
	prefix, claim, err := claimSubnet()
	if err != nil {
		t.Fatal(err)
	}
	d.claim, d.ServerIP = claim, prefix+".2"
	t.Cleanup(d.destroy)
	for _, step := range [][]string{
		{"netns", "add", d.name},
		{"-n", d.name, "link", "set", "lo", "up"},
		{"link", "add", d.rootLink, "type", "veth", "peer", "name", tag + "-dnsn", "netns", d.name},
		{"addr", "add", prefix + ".1/30", "dev", d.rootLink},
		{"link", "set", d.rootLink, "up"},
		{"-n", d.name, "addr", "add", prefix + ".2/30", "dev", tag + "-dnsn"},
		{"-n", d.name, "link", "set", tag + "-dnsn", "up"},
	} {
		if err := ip(step...); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// serve (re)starts dnsmasq in the namespace answering only these records: an SRV record
// under srvName per agent (target <agent>.mesh.test) and an A record 127.0.0.1 per target.
func (d *dnsNamespace) serve(t *testing.T, srvName string, agents []*agentProc) {
	t.Helper()
	d.stopDNS()
	var conf strings.Builder
	fmt.Fprintf(&conf, "no-resolv\nno-hosts\nport=53\nlisten-address=%s\nbind-interfaces\nlog-facility=-\n", d.ServerIP)
	for _, a := range agents {
		port := a.URL[strings.LastIndex(a.URL, ":")+1:]
		fmt.Fprintf(&conf, "srv-host=%s,%s.mesh.test,%s\nhost-record=%s.mesh.test,127.0.0.1\n", strings.TrimSuffix(srvName, "."), a.Name, port, a.Name)
	}
	file := filepath.Join(d.dir, "dnsmasq.conf")
	if err := os.WriteFile(file, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	d.dnsmasqLog = &bytes.Buffer{}
	d.dnsmasq = exec.Command("ip", "netns", "exec", d.name, "dnsmasq", "--keep-in-foreground", "--conf-file="+file, "--pid-file=", "--user=root")
	d.dnsmasq.Stdout, d.dnsmasq.Stderr = d.dnsmasqLog, d.dnsmasqLog
	if err := d.dnsmasq.Start(); err != nil {
		t.Fatal(err)
	}
	// ready when it answers the SRV query (bounded)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, srvs, err := agentclient.ResolverAt(d.ServerIP+":53").LookupSRV(ctx, "", "", srvName)
		cancel()
		if err == nil && len(srvs) == len(agents) {
			return
		}
		if d.dnsmasq.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("dnsmasq in %s did not answer %s with %d records:\n%s", d.name, srvName, len(agents), d.dnsmasqLog.String())
}

func (d *dnsNamespace) stopDNS() {
	if d.dnsmasq == nil || d.dnsmasq.Process == nil {
		return
	}
	stopProcess(d.dnsmasq, 5*time.Second)
	d.dnsmasq = nil
}

func (d *dnsNamespace) destroy() {
	d.stopDNS()
	_ = ip("link", "del", d.rootLink)
	_ = ip("netns", "del", d.name)
	if d.claim != "" {
		_ = os.Remove(d.claim)
	}
}
