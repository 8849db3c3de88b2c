package kindnode

import (
	"os"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/localcluster"
)

// modVersions reads a go.mod's require and replace lines: module → version
// (for a replace, "=> version" of its target).
func modVersions(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(line), "require "), "replace "))
		line, _, _ = strings.Cut(line, "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[1] == "=>":
			out[f[0]] = "=> " + f[3]
		case len(f) == 2 && strings.HasPrefix(f[1], "v"):
			if _, replaced := out[f[0]]; !replaced {
				out[f[0]] = f[1]
			}
		}
	}
	return out
}

// TestKindModulesFollowHackK8s: kubeadm, kubectl and kube-proxy
// (hack/kind/k8s) are built from the same Kubernetes and dependency versions
// as the local cluster's binaries (hack/k8s): every module both go.mod files
// name has one version, and k8s.io/kubernetes is localcluster's
// KubernetesVersion. The crictl and CoreDNS pins are the ones
// localcluster.EnsureKindBinaries names.
func TestKindModulesFollowHackK8s(t *testing.T) {
	base := modVersions(t, "../hack/k8s/go.mod")
	kind := modVersions(t, "../hack/kind/k8s/go.mod")
	if got := kind["k8s.io/kubernetes"]; got != localcluster.KubernetesVersion {
		t.Errorf("hack/kind/k8s pins k8s.io/kubernetes %s, want %s", got, localcluster.KubernetesVersion)
	}
	shared := 0
	for m, v := range base {
		kv, ok := kind[m]
		if !ok {
			continue
		}
		shared++
		if kv != v {
			t.Errorf("%s: hack/k8s %s, hack/kind/k8s %s", m, v, kv)
		}
	}
	if shared < 100 {
		t.Errorf("only %d modules in common: the parse is wrong", shared)
	}
	for path, pins := range map[string][2]string{
		"../hack/kind/crictl/go.mod":  {"sigs.k8s.io/cri-tools", localcluster.CrictlVersion},
		"../hack/kind/coredns/go.mod": {"github.com/coredns/coredns", localcluster.CoreDNSVersion},
	} {
		if got := modVersions(t, path)[pins[0]]; got != pins[1] {
			t.Errorf("%s pins %s %s, want %s", path, pins[0], got, pins[1])
		}
	}
}
