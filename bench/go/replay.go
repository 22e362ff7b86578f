package main

// Federation with instant agents: each real agent's HTTP replies to one plugin query are
// recorded once (a pass through recording proxies in front of the real agents), then served
// byte for byte from in-process servers on loopback that answer at once. The same plugin
// query path over N of those servers costs fan-out, HTTP, JSON decoding and the merge with
// no agent work: what federation itself adds to the slowest agent's time when every agent
// has a machine of its own.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh/plugin/pkg/federation"
	"github.com/flowmesh/flowmesh/plugin/pkg/models"
	"github.com/flowmesh/flowmesh/plugin/pkg/query"
)

// reply is one recorded HTTP answer.
type reply struct {
	status      int
	contentType string
	body        []byte
}

// recording maps "METHOD URI\nrequest body" to the agent's reply.
type recording struct {
	mu      sync.Mutex
	replies map[string]reply
}

func requestKey(r *http.Request, body []byte) string {
	return r.Method + " " + r.URL.RequestURI() + "\n" + string(body)
}

// loopbackServer serves h on an ephemeral loopback port.
type loopbackServer struct {
	URL    string
	server *http.Server
}

func serveLoopback(h http.Handler) (*loopbackServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &loopbackServer{URL: "http://" + ln.Addr().String(), server: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

func (s *loopbackServer) Close() { _ = s.server.Close() }

// recorder forwards every request to the agent at target and keeps its reply.
func recorder(target string, rec *recording) http.Handler {
	client := &http.Client{Timeout: 2 * time.Minute}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "fedbench recorder: "+err.Error(), http.StatusBadGateway)
			return
		}
		forward, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, "fedbench recorder: "+err.Error(), http.StatusBadGateway)
			return
		}
		forward.Header = r.Header.Clone()
		resp, err := client.Do(forward)
		if err != nil {
			http.Error(w, "fedbench recorder: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		if err != nil {
			http.Error(w, "fedbench recorder: "+err.Error(), http.StatusBadGateway)
			return
		}
		got := reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: answer}
		rec.mu.Lock()
		rec.replies[requestKey(r, body)] = got
		rec.mu.Unlock()
		writeReply(w, got)
	})
}

// replayer answers each recorded request with its recorded reply, at once.
func replayer(rec *recording) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "fedbench replay: "+err.Error(), http.StatusBadRequest)
			return
		}
		rec.mu.Lock()
		got, ok := rec.replies[requestKey(r, body)]
		rec.mu.Unlock()
		if !ok {
			http.Error(w, fmt.Sprintf("fedbench replay: %s %s was not recorded", r.Method, r.URL.RequestURI()), http.StatusInternalServerError)
			return
		}
		writeReply(w, got)
	})
}

func writeReply(w http.ResponseWriter, got reply) {
	if got.contentType != "" {
		w.Header().Set("Content-Type", got.contentType)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(got.body)))
	w.WriteHeader(got.status)
	_, _ = w.Write(got.body)
}

// record runs q once through recording proxies in front of the agents at urls and returns
// each agent's recorded replies (the version check and the query itself).
func record(urls []string, token string, q namedQuery, qc query.Context) ([]*recording, error) {
	recordings := make([]*recording, len(urls))
	proxies := make([]string, len(urls))
	for i, u := range urls {
		recordings[i] = &recording{replies: map[string]reply{}}
		s, err := serveLoopback(recorder(u, recordings[i]))
		if err != nil {
			return nil, err
		}
		defer s.Close()
		proxies[i] = s.URL
	}
	fleet, settings := fleetOf(proxies, token)
	plan, err := query.Parse(q.Query, qc, settings)
	if err != nil {
		return nil, err
	}
	result, err := query.Run(context.Background(), fleet, plan)
	if err != nil {
		return nil, err
	}
	if len(result.Failed) > 0 {
		return nil, fmt.Errorf("recording: %s", federation.DescribeFailures(result.Failed))
	}
	return recordings, nil
}

// instantFleet records the agents' replies to q once, then starts servers replaying them and
// returns a fleet over those servers, with a function that stops them.
func instantFleet(urls []string, token string, q namedQuery, qc query.Context) (*federation.Fleet, *models.Settings, func(), error) {
	recordings, err := record(urls, token, q, qc)
	if err != nil {
		return nil, nil, nil, err
	}
	var servers []*loopbackServer
	stop := func() {
		for _, s := range servers {
			s.Close()
		}
	}
	replayers := make([]string, len(urls))
	for i, rec := range recordings {
		s, err := serveLoopback(replayer(rec))
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		servers = append(servers, s)
		replayers[i] = s.URL
	}
	fleet, settings := fleetOf(replayers, token)
	return fleet, settings, stop, nil
}
