module github.com/flowmesh/flowmesh/bench/go

go 1.26.5

require github.com/flowmesh/flowmesh/plugin v0.0.0

replace github.com/flowmesh/flowmesh/plugin => ../../plugin
