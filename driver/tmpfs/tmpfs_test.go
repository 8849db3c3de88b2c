package tmpfs

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestMountUnmountIdempotent(t *testing.T) {
	if runtime.GOOS == "linux" && os.Geteuid() != 0 {
		t.Skip("needs root: mounts a real tmpfs")
	}
	target := filepath.Join(t.TempDir(), "a", "b", "mount")
	mounted, err := Mount(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Unmount(target) })
	st, err := os.Stat(filepath.Dir(target))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && st.Mode().Perm() != TargetDirMode {
		t.Fatalf("parent directory mode %v, want %v", st.Mode().Perm(), TargetDirMode)
	}
	mp, err := IsMountPoint(target)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && (!mounted || !mp) {
		t.Fatalf("mounted=%v mountPoint=%v, want a tmpfs", mounted, mp)
	}
	if again, err := Mount(target); err != nil || (again && runtime.GOOS == "linux") {
		t.Fatalf("second Mount = %v, %v; want no new mount", again, err)
	}
	if err := os.WriteFile(filepath.Join(target, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := Unmount(target); err != nil {
			t.Fatalf("Unmount %d: %v", i, err)
		}
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("target still there: %v", err)
	}
	if mp, _ := IsMountPoint(target); mp {
		t.Fatal("still a mount point")
	}
}
