// Package crds embeds the CustomResourceDefinitions of the
// secrets-store.csi.x-k8s.io group, so the local cluster, the deploy
// manifests and the tests all install exactly the same bytes.
package crds

import "embed"

// FS holds one YAML file per CRD, at its root.
//
//go:embed *.yaml
var FS embed.FS

// Files lists the CRD file names in FS, in install order.
var Files = []string{
	"secrets-store.csi.x-k8s.io_secretproviderclasses.yaml",
	"secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml",
}
