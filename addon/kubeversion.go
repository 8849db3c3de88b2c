package addon

import (
	"runtime/debug"
	"strings"

	utilversion "k8s.io/apimachinery/pkg/util/version"
)

// renderVersion is the Kubernetes version to render for, given what the
// server reports. A kube-apiserver built from source without version stamps
// reports "v0.0.0-master+…"; for it, the version of the client-go this binary
// was built with (v0.X.Y ↔ v1.X.Y) is the best guess, since such a server is
// built from the same pinned modules.
func renderVersion(server string) string { return pickVersion(server, clientGoVersion()) }

func pickVersion(server, clientGo string) string {
	if v, err := utilversion.ParseGeneric(server); err == nil && v.Major() >= 1 {
		return server
	}
	if strings.HasPrefix(clientGo, "v0.") {
		return "v1." + strings.TrimPrefix(clientGo, "v0.")
	}
	return ""
}

// clientGoVersion is k8s.io/client-go's module version from the build info
// ("" in test binaries, which carry none).
func clientGoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/client-go" {
				return d.Version
			}
		}
	}
	return ""
}
