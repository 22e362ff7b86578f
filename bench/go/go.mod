module github.com/flowmesh/flowmesh/bench/go

go 1.26.5

require github.com/flowmesh/flowmesh/plugin v0.0.0

require github.com/goccy/go-json v0.11.2 // indirect

replace github.com/flowmesh/flowmesh/plugin => ../../plugin
