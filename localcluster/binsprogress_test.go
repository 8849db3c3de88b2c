package localcluster

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestBinariesRemainingCountsCacheAndBuildDirs(t *testing.T) {
	cache := t.TempDir()
	all := binariesRemainingIn(cache)
	if len(all) != len(components) {
		t.Fatalf("empty cache: remaining %v, want all %d components", all, len(components))
	}
	// etcd in the cache, kubelet linked into a running build's directory.
	if err := os.WriteFile(filepath.Join(cache, "etcd-"+EtcdVersion), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(cache, ".build-1")
	if err := os.Mkdir(b, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "kubelet"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	got := binariesRemainingIn(cache)
	if slices.Contains(got, "etcd") || slices.Contains(got, "kubelet") {
		t.Errorf("remaining %v still names a built binary", got)
	}
	if !slices.Contains(got, "kube-apiserver") || len(got) != len(components)-2 {
		t.Errorf("remaining %v, want every component but etcd and kubelet", got)
	}
}
