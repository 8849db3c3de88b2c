package rotation

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kvcsi/kvcsi/driver/tmpfs"
)

// TestRotationOnTmpfsStopsAfterUnmount rotates a volume on a real tmpfs, then unmounts it the way
// kubelet's unpublish does and checks rotation no longer writes: the secret would land on the
// node's disk below the now plain directory.
func TestRotationOnTmpfsStopsAfterUnmount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts a tmpfs")
	}
	e := newEnvWith(t, func(target string) {
		if _, err := tmpfs.Mount(target); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tmpfs.Unmount(target) })
	})
	e.version, e.content = "2", "v2"
	e.poll()
	if got := e.mounted(); got != "v2" {
		t.Fatalf("mounted = %q, want v2", got)
	}
	if mp, err := tmpfs.IsMountPoint(e.target); err != nil || !mp {
		t.Fatalf("target is no longer a tmpfs mount point: %v %v", mp, err)
	}

	if err := unix.Unmount(e.target, 0); err != nil {
		t.Fatal(err)
	}
	calls := len(e.requests())
	e.version, e.content = "3", "v3"
	e.poll()
	if n := len(e.requests()); n != calls {
		t.Errorf("provider called for an unmounted volume")
	}
	entries, err := os.ReadDir(e.target)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("rotation wrote %d entries into the unmounted directory", len(entries))
	}
}
