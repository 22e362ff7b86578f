package main

import (
	"context"
	"os"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/flowmesh/flowmesh/plugin/test/pluginlaunch"
)

// launch starts the plugin executable as Grafana launches it (test/pluginlaunch, shared
// with the contract test). The backend's own log lines go to our stderr (the test keeps
// them in a file).
func launch(bin string) (*pluginlaunch.Process, error) {
	return pluginlaunch.Launch(bin, os.Stderr, 60*time.Second)
}

// callResource collects the streamed answer: the first non-zero status and the whole body.
func callResource(ctx context.Context, p *pluginlaunch.Process, r *backend.CallResourceRequest) (int, []byte, error) {
	status := 0
	var body []byte
	err := p.CallResource(ctx, r, backend.CallResourceResponseSenderFunc(func(part *backend.CallResourceResponse) error {
		if status == 0 {
			status = part.Status
		}
		body = append(body, part.Body...)
		return nil
	}))
	if err != nil {
		return 0, nil, err
	}
	return status, body, nil
}
