package api

import (
	"runtime/debug"
	"sync"
)

// Build is what the binary knows of its own build: the module version
// (`(devel)` for a local build), the VCS revision and time when built from
// a checkout, and the Go version. `carbonledger --version` prints it and
// /metrics exports it as carbonledger_build_info.
type Build struct {
	Version, Revision, Time, GoVersion string
	Modified                           bool
}

var buildOnce = sync.OnceValue(func() Build {
	b := Build{Version: "unknown", Revision: "unknown", GoVersion: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Version, b.GoVersion = info.Main.Version, info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
})

// BuildInfo is this binary's Build.
func BuildInfo() Build { return buildOnce() }
