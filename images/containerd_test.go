package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// containerdBinaries finds containerd and ctr in the local cluster's binary
// cache (make k8s-bins), named <name>-<version>.
func containerdBinaries(t *testing.T) (containerd, ctr string) {
	t.Helper()
	dir := os.Getenv("KVCSI_BIN_CACHE")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("needs containerd from make k8s-bins: no cache dir: %v", err)
		}
		dir = filepath.Join(cache, "kvcsi", "bin")
	}
	find := func(name string) string {
		m, _ := filepath.Glob(filepath.Join(dir, name+"-v*"))
		if len(m) == 0 {
			t.Skipf("needs %s from make k8s-bins in %s", name, dir)
		}
		return m[len(m)-1]
	}
	return find("containerd"), find("ctr")
}

// TestImportIntoContainerd imports every tarball into a private containerd,
// the way the local cluster and kind do (ctr images import), and unpacks
// it, so a tarball containerd cannot read fails here and not in a cluster.
func TestImportIntoContainerd(t *testing.T) {
	needHostInputs(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a private containerd")
	}
	if testing.Short() {
		t.Skip("runs a private containerd (-short, as in make test-unit, runs no daemon)")
	}
	containerd, ctr := containerdBinaries(t)
	bin := tinyBinary(t)
	bins := map[string]string{}
	for _, n := range goNames() {
		bins[n] = bin
	}
	built, err := Build(context.Background(), Options{Version: "v0.0.1-import", OutDir: t.TempDir(), Binaries: bins})
	if err != nil {
		t.Fatal(err)
	}

	// Short paths: the socket must fit in sun_path.
	base, err := os.MkdirTemp("", "kvcsi-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	addr := filepath.Join(base, "c.sock")
	// Everything that could touch the host or another containerd (CRI, NRI's
	// shared socket, /opt) is off; only content, metadata, snapshots remain.
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = [
  "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
  "io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs", "io.containerd.snapshotter.v1.aufs",
]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
`, filepath.Join(base, "root"), filepath.Join(base, "state"), addr, addr+".ttrpc")
	cfgPath := filepath.Join(base, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(base, "containerd.log")
	logf, _ := os.Create(logPath)
	daemon := exec.Command(containerd, "--config", cfgPath)
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { daemon.Wait(); close(exited) }()
	t.Cleanup(func() {
		daemon.Process.Kill()
		<-exited
		logf.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("containerd log:\n%s", log)
		}
	})

	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		full := append([]string{"--address", addr, "--namespace", "kvcsi-test"}, args...)
		out, err := exec.CommandContext(ctx, ctr, full...).CombinedOutput()
		return string(out), err
	}
	// Wait for the daemon to serve (it has no readiness signal but its API).
	for {
		if _, err := run("version"); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatal("containerd exited before serving")
		case <-time.After(100 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}

	for _, img := range built {
		out, err := run("images", "import", img.Path)
		if err != nil {
			t.Errorf("ctr images import %s: %v\n%s", img.Name, err, out)
			continue
		}
		ls, err := run("images", "ls")
		if err != nil || !strings.Contains(ls, img.Ref) {
			t.Errorf("%s not listed after import: %v\n%s", img.Ref, err, ls)
		}
		// Unpacked means containerd applied the layer into a snapshot.
		out, err = run("images", "check", "name=="+img.Ref)
		if err != nil || !unpacked(out, img.Ref) {
			t.Errorf("ctr images check %s: not complete and unpacked: %v\n%s", img.Ref, err, out)
		}
	}
}

// unpacked reads `ctr images check` output: the row of ref must say complete
// and end with UNPACKED=true.
func unpacked(out, ref string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == ref {
			return strings.Contains(line, "complete") && f[len(f)-1] == "true"
		}
	}
	return false
}
