package kindnode

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKindWrapper runs hack/kind/kind-wrapper.sh (what mk/kind.mk installs as
// _output/kind/bin/kind) against a fake kind and podman that record their
// calls: `create cluster` gets the node image and the podman provider, each
// cluster its own podman network, and `delete cluster` removes that network
// once no container is on it, and only that one.
func TestKindWrapper(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh: not installed")
	}
	src, err := os.ReadFile("../hack/kind/kind-wrapper.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kindDir := filepath.Join(dir, "kind")
	wrapDir := filepath.Join(kindDir, "bin")
	fakeDir := filepath.Join(dir, "fake")
	for _, d := range []string{wrapDir, fakeDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "calls.log")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(wrapDir, "kind"), strings.ReplaceAll(string(src), "@KIND_DIR@", kindDir))
	write(filepath.Join(kindDir, "node-image.ref"), "localhost/kvcsi/kind-node:v1.37.2-abc\n")
	write(filepath.Join(fakeDir, "kind"), `#!/bin/sh
echo "kind $* provider=$KIND_EXPERIMENTAL_PROVIDER network=$KIND_EXPERIMENTAL_PODMAN_NETWORK conf=$CONTAINERS_CONF" >> `+log+"\n")
	// podman: the network exists; no container is left on it.
	write(filepath.Join(fakeDir, "podman"), `#!/bin/sh
echo "podman $*" >> `+log+`
case "$1 $2" in "network exists") exit 0 ;; "ps -aq") exit 0 ;; esac
`)
	run := func(args ...string) string {
		t.Helper()
		os.Remove(log)
		cmd := exec.Command(filepath.Join(wrapDir, "kind"), args...)
		cmd.Env = append(os.Environ(), "PATH="+wrapDir+":"+fakeDir+":/usr/bin:/bin")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kind %v: %v\n%s", args, err, out)
		}
		b, _ := os.ReadFile(log)
		return string(b)
	}

	got := run("create", "cluster", "--name", "kvcsi", "--config", "kind-config.yaml")
	want := "kind create cluster --image localhost/kvcsi/kind-node:v1.37.2-abc --name kvcsi --config kind-config.yaml provider=podman network=kind-kvcsi conf=" + filepath.Join(kindDir, "containers.conf")
	if strings.TrimSpace(got) != want {
		t.Errorf("create:\n got %s\nwant %s", got, want)
	}
	if got := run("create", "cluster", "--name=other", "--image", "mine:1"); !strings.Contains(got, "kind create cluster --name=other --image mine:1 provider=podman network=kind-other") {
		t.Errorf("create with --image is passed through unchanged: %s", got)
	}
	got = run("delete", "cluster", "--name", "kvcsi")
	if !strings.Contains(got, "kind delete cluster --name kvcsi provider=podman network=kind-kvcsi") || !strings.Contains(got, "podman network rm kind-kvcsi") {
		t.Errorf("delete does not remove the cluster's network:\n%s", got)
	}
	if strings.Count(got, "network rm") != 1 {
		t.Errorf("delete removes more than the cluster's network:\n%s", got)
	}
	if got := run("get", "clusters"); strings.Contains(got, "\npodman ") || strings.HasPrefix(got, "podman ") {
		t.Errorf("get clusters touched podman:\n%s", got)
	}
}
