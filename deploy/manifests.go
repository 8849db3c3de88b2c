// Package deploy holds the plain manifests (deploy/*.yaml) for `kubectl apply`.
// They are rendered from the Helm chart charts/kvcsi, the single source of
// truth, by `make manifests`; a golden test fails when they drift.
package deploy

import (
	"embed"
	"fmt"
	"path"
	"strings"

	"github.com/kvcsi/kvcsi/charts"
)

// FS holds the committed manifests, e.g. for the kind target.
//
//go:embed *.yaml
var FS embed.FS

// header starts every generated file.
const header = "# Generated from charts/kvcsi by `make manifests`; do not edit.\n"

// manifestValues is what the plain manifests are rendered with: every optional
// part that users apply as a separate file is on, rotation stays off as
// upstream ships it (its RBAC file comes from a rotation rendering).
var manifestValues = map[string]any{
	"syncSecret": map[string]any{"enabled": true},
	"windows":    map[string]any{"enabled": true},
	"emulator":   map[string]any{"enabled": true},
}

// KubeVersion is the Kubernetes version the plain manifests are rendered
// for (the local target's); the chart and `kvcsi addon` adapt to the server.
const KubeVersion = "v1.37.2"

// fromRotation are the files taken from the rendering with rotation on.
var fromRotation = map[string]bool{"rbac-rotation.yaml": true}

// Render renders the plain manifests from the embedded chart: file name in
// deploy/ to content.
func Render() (map[string]string, error) {
	base, err := charts.Render(charts.Options{ManagedBy: "kvcsi-manifests", Values: manifestValues, KubeVersion: KubeVersion})
	if err != nil {
		return nil, err
	}
	rot := map[string]any{"enableSecretRotation": true}
	for k, v := range manifestValues {
		rot[k] = v
	}
	rotation, err := charts.Render(charts.Options{ManagedBy: "kvcsi-manifests", Values: rot, KubeVersion: KubeVersion})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	add := func(f charts.File) error {
		name := path.Base(f.Name)
		if _, dup := out[name]; dup {
			return fmt.Errorf("two chart files render to deploy/%s", name)
		}
		out[name] = header + "# Source: charts/kvcsi/" + f.Name + "\n" + strings.TrimLeft(f.Content, "\n")
		if !strings.HasSuffix(out[name], "\n") {
			out[name] += "\n"
		}
		return nil
	}
	for _, f := range base.Files {
		if fromRotation[path.Base(f.Name)] {
			continue
		}
		if err := add(f); err != nil {
			return nil, err
		}
	}
	for _, f := range rotation.Files {
		if fromRotation[path.Base(f.Name)] {
			if err := add(f); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
