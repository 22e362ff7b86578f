//go:build mage

// Backend build (mage with the plugin SDK's build targets). From plugin/:
//
//	go tool mage -v            all six platforms, one after another, plus dist/go_plugin_build_manifest
//	go tool mage -v build:linux  linux/amd64 only
//
// Executables are dist/<executable>_<os>_<arch>[.exe], named by src/plugin.json, static (CGO off).
package main

import (
	"github.com/magefile/mage/mg"

	// mage:import
	build "github.com/grafana/grafana-plugin-sdk-go/build"
)

// Default builds every platform.
var Default = All

// All builds the six platforms Grafana ships serially: the SDK's BuildAll runs them in
// parallel, which starves a small machine.
func All() {
	b := build.Build{}
	mg.SerialDeps(b.Linux, b.LinuxARM64, b.LinuxARM, b.Darwin, b.DarwinARM64, b.Windows)
}
