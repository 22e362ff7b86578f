// Package pluginlaunch launches the built backend executable as Grafana launches it:
// go-plugin handshake (protocol 2, Grafana's magic cookie), gRPC only, the data /
// diagnostics / resource services dispensed and called with SDK requests converted to
// protobuf. Shared by the contract test and the e2e driver; it returns errors so either
// can decide how to fail. Test tooling only: not part of the shipped plugin (plugin/pkg).
package pluginlaunch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// Process is a launched backend executable. It offers the same QueryData / CheckHealth /
// CallResource calls as the SDK's in-process handlers.
type Process struct {
	client      *goplugin.Client
	Pid         int
	data        grpcplugin.DataClient
	diagnostics grpcplugin.DiagnosticsClient
	resource    grpcplugin.ResourceClient
}

// Launch starts bin and dispenses its three services. The backend's own log lines at warn
// and above go to logOutput; startTimeout bounds the handshake.
func Launch(bin string, logOutput io.Writer, startTimeout time.Duration) (*Process, error) {
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
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: logOutput}),
		StartTimeout:     startTimeout,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{client: client}
	if rc := client.ReattachConfig(); rc != nil {
		p.Pid = rc.Pid
	}
	if err := p.dispense(rpc); err != nil {
		client.Kill()
		return nil, err
	}
	return p, nil
}

func (p *Process) dispense(rpc goplugin.ClientProtocol) error {
	raw, err := rpc.Dispense("data")
	if err != nil {
		return fmt.Errorf("dispense data: %w", err)
	}
	var ok bool
	if p.data, ok = raw.(grpcplugin.DataClient); !ok {
		return fmt.Errorf("data plugin is a %T, not a DataClient", raw)
	}
	if raw, err = rpc.Dispense("diagnostics"); err != nil {
		return fmt.Errorf("dispense diagnostics: %w", err)
	}
	if p.diagnostics, ok = raw.(grpcplugin.DiagnosticsClient); !ok {
		return fmt.Errorf("diagnostics plugin is a %T, not a DiagnosticsClient", raw)
	}
	if raw, err = rpc.Dispense("resource"); err != nil {
		return fmt.Errorf("dispense resource: %w", err)
	}
	if p.resource, ok = raw.(grpcplugin.ResourceClient); !ok {
		return fmt.Errorf("resource plugin is a %T, not a ResourceClient", raw)
	}
	return nil
}

// Kill stops the executable.
func (p *Process) Kill() { p.client.Kill() }

func (p *Process) QueryData(ctx context.Context, r *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	resp, err := p.data.QueryData(ctx, backend.ToProto().QueryDataRequest(r))
	if err != nil {
		return nil, err
	}
	return backend.FromProto().QueryDataResponse(resp)
}

func (p *Process) CheckHealth(ctx context.Context, r *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	resp, err := p.diagnostics.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: backend.ToProto().PluginContext(r.PluginContext), Headers: r.Headers})
	if err != nil {
		return nil, err
	}
	return backend.FromProto().CheckHealthResponse(resp), nil
}

// CallResource passes each streamed response part to sender, as Grafana's handler does.
func (p *Process) CallResource(ctx context.Context, r *backend.CallResourceRequest, sender backend.CallResourceResponseSender) error {
	stream, err := p.resource.CallResource(ctx, backend.ToProto().CallResourceRequest(r))
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := sender.Send(backend.FromProto().CallResourceResponse(msg)); err != nil {
			return err
		}
	}
}
