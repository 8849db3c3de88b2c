// Package crds embeds the SecretSync CustomResourceDefinition
// (secret-sync.x-k8s.io), so the chart, the tests and the local cluster
// install the same bytes.
package crds

import _ "embed"

// SecretSyncs is the CRD YAML of secretsyncs.secret-sync.x-k8s.io.
//
//go:embed secret-sync.x-k8s.io_secretsyncs.yaml
var SecretSyncs []byte

// File is the CRD's file name.
const File = "secret-sync.x-k8s.io_secretsyncs.yaml"
