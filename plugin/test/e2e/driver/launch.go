package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// backendProcess is the plugin executable launched as Grafana launches it: go-plugin
// handshake (protocol 2, Grafana's magic cookie), gRPC only, the data / diagnostics /
// resource services dispensed and called with SDK requests converted to protobuf. Same
// launcher as the contract test's (test/contract/executable_test.go), returning errors
// instead of failing a testing.T.
type backendProcess struct {
	client      *goplugin.Client
	pid         int
	data        grpcplugin.DataClient
	diagnostics grpcplugin.DiagnosticsClient
	resource    grpcplugin.ResourceClient
}

func launch(bin string) (*backendProcess, error) {
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  grpcplugin.ProtocolVersion,
			MagicCookieKey:   grpcplugin.MagicCookieKey,
			MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		VersionedPlugins: map[int]goplugin.PluginSet{grpcplugin.ProtocolVersion: {
			"data":        &grpcplugin.DataGRPCPlugin{},
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
		}},
		Cmd:              exec.Command(bin),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		// The backend's own log lines go to our stderr (the test keeps them in a file).
		Logger:       hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
		StartTimeout: 60 * time.Second,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &backendProcess{client: client}
	if rc := client.ReattachConfig(); rc != nil {
		p.pid = rc.Pid
	}
	fail := func(err error) (*backendProcess, error) {
		client.Kill()
		return nil, err
	}
	dispense := func(name string) (any, error) {
		raw, err := rpc.Dispense(name)
		if err != nil {
			return nil, fmt.Errorf("dispense %s: %w", name, err)
		}
		return raw, nil
	}
	raw, err := dispense("data")
	if err != nil {
		return fail(err)
	}
	var ok bool
	if p.data, ok = raw.(grpcplugin.DataClient); !ok {
		return fail(fmt.Errorf("data plugin is a %T, not a DataClient", raw))
	}
	if raw, err = dispense("diagnostics"); err != nil {
		return fail(err)
	}
	if p.diagnostics, ok = raw.(grpcplugin.DiagnosticsClient); !ok {
		return fail(fmt.Errorf("diagnostics plugin is a %T, not a DiagnosticsClient", raw))
	}
	if raw, err = dispense("resource"); err != nil {
		return fail(err)
	}
	if p.resource, ok = raw.(grpcplugin.ResourceClient); !ok {
		return fail(fmt.Errorf("resource plugin is a %T, not a ResourceClient", raw))
	}
	return p, nil
}

func (p *backendProcess) kill() { p.client.Kill() }

func (p *backendProcess) queryData(ctx context.Context, r *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp, err := p.data.QueryData(ctx, backend.ToProto().QueryDataRequest(r))
	if err != nil {
		return nil, err
	}
	return backend.FromProto().QueryDataResponse(resp)
}

func (p *backendProcess) checkHealth(ctx context.Context, r *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	resp, err := p.diagnostics.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: backend.ToProto().PluginContext(r.PluginContext), Headers: r.Headers})
	if err != nil {
		return nil, err
	}
	return backend.FromProto().CheckHealthResponse(resp), nil
}

// callResource collects the streamed answer: the first non-zero status and the whole body.
func (p *backendProcess) callResource(ctx context.Context, r *backend.CallResourceRequest) (int, []byte, error) {
	stream, err := p.resource.CallResource(ctx, backend.ToProto().CallResourceRequest(r))
	if err != nil {
		return 0, nil, err
	}
	status := 0
	var body []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return status, body, nil
		}
		if err != nil {
			return 0, nil, err
		}
		if status == 0 {
			status = int(msg.Code)
		}
		body = append(body, msg.Body...)
	}
}
