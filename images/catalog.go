package images

import "fmt"

// Users the images run as. The driver, the provider and the two sidecars need
// root: the driver mounts tmpfs into pods, and the others create or connect to
// sockets in root-owned hostPath directories (/registration, /provider,
// /csi). Everything else runs as the distroless "nonroot" user.
const (
	rootUser    = "0:0"
	nonrootUser = "65532:65532"
	pauseUser   = "65535:65535" // what registry.k8s.io/pause uses
)

// Fixed references for the images that must carry upstream names, so that the
// kubelet's sandbox image and the documentation's pod YAML work verbatim.
const (
	PauseRef   = "registry.k8s.io/pause:3.10"
	BusyboxRef = "registry.k8s.io/e2e-test-images/busybox:1.29-1"
)

// Registry is where kvcsi's own images are named (CONTRIBUTING.md).
const Registry = "ghcr.io/kvcsi"

// caBundlePathInImage is where Go's crypto/x509 looks first on Linux.
const caBundlePathInImage = "/etc/ssl/certs/ca-certificates.crt"

// spec is the recipe of one image.
type spec struct {
	name        string // short name; also the binary name and ./cmd/<name>
	fixedRef    string // full reference when not <Registry>/<name>:<version>
	description string
	user        string
	caBundle    bool // carry Debian's CA bundle
	busybox     bool // shell image built from busybox-static, no Go binary
	cmd         []string
}

// catalog lists every image, in build order.
var catalog = []spec{
	{name: "secrets-store-csi-driver", description: "Secrets Store CSI driver (node plugin)", user: rootUser},
	{name: "secrets-store-provider-azure", description: "Azure Key Vault provider for the Secrets Store CSI driver", user: rootUser, caBundle: true},
	{name: "secrets-store-sync-controller", description: "secrets-store-sync-controller: SecretSync objects into Kubernetes Secrets without a pod", user: rootUser},
	{name: "kvemulator", description: "Azure Key Vault and Entra ID emulator", user: nonrootUser},
	{name: "kvcsi", description: "kvcsi CLI: local cluster, add-on manager, scenario runner", user: nonrootUser, caBundle: true},
	{name: "csi-node-driver-registrar", description: "kubelet plugin registration sidecar", user: rootUser},
	{name: "livenessprobe", description: "CSI Probe liveness sidecar", user: rootUser},
	{name: "pause", fixedRef: PauseRef, description: "pod sandbox (pause) image", user: pauseUser},
	{name: "busybox", fixedRef: BusyboxRef, description: "shell image from Debian busybox-static", user: rootUser, busybox: true, cmd: []string{"sh"}},
}

// Names returns the short names of every image Build knows, in build order.
func Names() []string {
	out := make([]string, len(catalog))
	for i, s := range catalog {
		out[i] = s.name
	}
	return out
}

// Ref returns the image reference of the image called name for version, e.g.
// Ref("kvemulator", "v0.1.0") = "ghcr.io/kvcsi/kvemulator:v0.1.0" and
// Ref("pause", …) = "registry.k8s.io/pause:3.10". Manifests and the local
// cluster use it so that nobody spells a reference by hand.
func Ref(name, version string) (string, error) {
	s, ok := lookup(name)
	if !ok {
		return "", fmt.Errorf("unknown image %q (known: %v)", name, Names())
	}
	return s.ref(version), nil
}

func lookup(name string) (spec, bool) {
	for _, s := range catalog {
		if s.name == name {
			return s, true
		}
	}
	return spec{}, false
}

func (s spec) ref(version string) string {
	if s.fixedRef != "" {
		return s.fixedRef
	}
	return Registry + "/" + s.name + ":" + version
}

// goBinary reports whether the image is built from ./cmd/<name>.
func (s spec) goBinary() bool { return !s.busybox }

// entrypoint is where the binary sits, as in the upstream images (/<name>).
func (s spec) entrypoint() []string {
	if s.busybox {
		return nil
	}
	return []string{"/" + s.name}
}
