// Package charts embeds the kvcsi Helm chart and renders it with Helm's own
// engine, so that the plain manifests in deploy/, the add-on manager and the
// tests install exactly what `helm install` would.
package charts

import "embed"

// FS holds the chart directory kvcsi/ (Chart.yaml, values.yaml, crds/,
// templates/). The all: prefix keeps _helpers.tpl.
//
//go:embed all:kvcsi
var FS embed.FS

// ChartDir is the chart's directory inside FS.
const ChartDir = "kvcsi"
