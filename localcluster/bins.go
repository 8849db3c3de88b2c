package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Pinned versions of the binaries the cluster runs. They must match
// hack/k8s/go.mod (Kubernetes, and the etcd it pins) and
// hack/k8s/containerd/go.mod; TestVersionsMatchModules checks that.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.7.0"
	ContainerdVersion = "v2.4.2"
)

// component is one binary of the cluster and how to build it.
type component struct {
	name    string
	version string
	module  string // directory under the repo root holding its go.mod
	pkg     string // package path to build
}

var components = []component{
	{"kube-apiserver", KubernetesVersion, "hack/k8s", "k8s.io/kubernetes/cmd/kube-apiserver"},
	{"kube-controller-manager", KubernetesVersion, "hack/k8s", "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{"kube-scheduler", KubernetesVersion, "hack/k8s", "k8s.io/kubernetes/cmd/kube-scheduler"},
	{"kubelet", KubernetesVersion, "hack/k8s", "k8s.io/kubernetes/cmd/kubelet"},
	{"etcd", EtcdVersion, "hack/k8s", "./cmd/etcd"},
	{"containerd", ContainerdVersion, "hack/k8s/containerd", "github.com/containerd/containerd/v2/cmd/containerd"},
	{"containerd-shim-runc-v2", ContainerdVersion, "hack/k8s/containerd", "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"},
	{"ctr", ContainerdVersion, "hack/k8s/containerd", "github.com/containerd/containerd/v2/cmd/ctr"},
}

// kindComponents are the binaries a kind node image needs beyond the local
// cluster's (kindnode): built from their own modules under hack/kind, into the
// same cache, only when EnsureKindBinaries asks; the local cluster never
// builds them.
var kindComponents = []component{
	{"kubeadm", KubernetesVersion, "hack/kind/k8s", "k8s.io/kubernetes/cmd/kubeadm"},
	{"kubectl", KubernetesVersion, "hack/kind/k8s", "k8s.io/kubernetes/cmd/kubectl"},
	{"kube-proxy", KubernetesVersion, "hack/kind/k8s", "k8s.io/kubernetes/cmd/kube-proxy"},
	{"crictl", CrictlVersion, "hack/kind/crictl", "sigs.k8s.io/cri-tools/cmd/crictl"},
	{"coredns", CoreDNSVersion, "hack/kind/coredns", "github.com/coredns/coredns"},
}

// CoreDNSVersion is the CoreDNS hack/kind/coredns pins: the one kubeadm
// KubernetesVersion deploys (`kubeadm config images list`).
const CoreDNSVersion = "v1.14.6"

// CrictlVersion is the cri-tools release hack/kind/crictl pins.
const CrictlVersion = "v1.37.0"

// EnsureKindBinaries returns kubeadm, kubectl, kube-proxy, crictl and coredns (name →
// executable), building the missing ones into the binary cache as
// EnsureBinaries does. Only the kind node image (kindnode) needs them.
func EnsureKindBinaries(ctx context.Context, log *slog.Logger) (map[string]string, error) {
	bins, err := ensureComponents(ctx, "", kindComponents, log)
	return map[string]string(bins), err
}

// BinaryCacheDir is where built binaries are kept, one file per component
// and version (<dir>/<component>-<version>), so a warm start never rebuilds:
// $KVCSI_BIN_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/kvcsi/bin.
func BinaryCacheDir() (string, error) {
	if d := os.Getenv("KVCSI_BIN_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the binary cache: %w (set KVCSI_BIN_CACHE)", err)
	}
	return filepath.Join(d, "kvcsi", "bin"), nil
}

// binaries maps a component name to the executable to run.
type binaries map[string]string

// resolveComponents finds every component of cs in binDir (unversioned
// names) or the cache; it never builds.
func resolveComponents(binDir string, cs []component) (binaries, []component, error) {
	cache, err := BinaryCacheDir()
	if err != nil && binDir == "" {
		return nil, nil, err
	}
	bins := binaries{}
	var missing []component
	for _, c := range cs {
		p := filepath.Join(cache, c.name+"-"+c.version)
		if binDir != "" {
			p = filepath.Join(binDir, c.name)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			bins[c.name] = p
			continue
		}
		missing = append(missing, c)
	}
	return bins, missing, nil
}

// EnsureBinaries returns the cluster's binaries, building the missing ones
// from the pinned modules under the kvcsi checkout into the cache first. The
// checkout is found by walking up from the working directory ($KVCSI_SRC
// overrides). This is what `make k8s-bins` runs; a cold build takes several
// minutes, a warm call only stats the cache.
func EnsureBinaries(ctx context.Context, binDir string, log *slog.Logger) (binaries, error) {
	return ensureComponents(ctx, binDir, components, log)
}

// ensureComponents is EnsureBinaries for the components cs.
func ensureComponents(ctx context.Context, binDir string, cs []component, log *slog.Logger) (binaries, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bins, missing, err := resolveComponents(binDir, cs)
	if err != nil {
		return nil, err
	}
	if len(missing) == 0 {
		return bins, nil
	}
	if binDir != "" {
		return nil, fmt.Errorf("Config.BinDir %s lacks %s; put the binaries there or leave BinDir empty to use the build cache", binDir, names(missing))
	}
	src, err := findSource()
	if err != nil {
		return nil, fmt.Errorf("binaries %s are not in the cache and cannot be built: %w", names(missing), err)
	}
	cache, _ := BinaryCacheDir()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, fmt.Errorf("create the binary cache: %w", err)
	}
	// One go build per module, so the packages share compilation work.
	byModule := map[string][]component{}
	var order []string
	for _, c := range missing {
		if _, ok := byModule[c.module]; !ok {
			order = append(order, c.module)
		}
		byModule[c.module] = append(byModule[c.module], c)
	}
	for _, mod := range order {
		cs := byModule[mod]
		tmp, err := os.MkdirTemp(cache, ".build-")
		if err != nil {
			return nil, err
		}
		args := []string{"build", "-trimpath", "-o", tmp + string(os.PathSeparator)}
		for _, c := range cs {
			args = append(args, c.pkg)
		}
		start := time.Now()
		log.Info("building cluster binaries (cold build, several minutes)", "module", mod, "binaries", names(cs))
		cmd := exec.CommandContext(ctx, goCommand(), args...)
		cmd.Dir = filepath.Join(src, mod)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("build %s in %s: %w\n%s", names(cs), cmd.Dir, err, tail(out, 4000))
		}
		for _, c := range cs {
			built := filepath.Join(tmp, filepath.Base(strings.TrimPrefix(c.pkg, "./")))
			dst := filepath.Join(cache, c.name+"-"+c.version)
			if err := os.Rename(built, dst); err != nil {
				os.RemoveAll(tmp)
				return nil, fmt.Errorf("install %s into the cache: %w", c.name, err)
			}
			bins[c.name] = dst
		}
		os.RemoveAll(tmp)
		log.Info("built cluster binaries", "module", mod, "seconds", time.Since(start).Round(time.Second).Seconds())
	}
	return bins, nil
}

func names(cs []component) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.name)
	}
	return strings.Join(n, ", ")
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// findSource locates the kvcsi checkout holding hack/k8s.
func findSource() (string, error) {
	if d := os.Getenv("KVCSI_SRC"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "hack/k8s/go.mod")); err != nil {
			return "", fmt.Errorf("KVCSI_SRC=%s has no hack/k8s/go.mod", d)
		}
		return d, nil
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "hack/k8s/go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("no kvcsi checkout (hack/k8s/go.mod) above the working directory; run `make k8s-bins` in the checkout or set KVCSI_SRC")
		}
		d = parent
	}
}

// goCommand is the go tool to build with.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "/usr/local/go/bin/go"
}
