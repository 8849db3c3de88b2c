package atomicwriter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidatePath checks the property the validation exists for: every
// accepted path stays strictly inside the target and cannot name the
// writer's own ..data entries.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "/a", "a/../b", "..data", "a//b", ".", "a/.", `a\..\b`} {
		f.Add(s)
	}
	const root = "/target"
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		full := filepath.Join(root, p)
		if full == root || !strings.HasPrefix(full, root+string(filepath.Separator)) {
			t.Fatalf("accepted %q escapes the target: %q", p, full)
		}
		top := strings.SplitN(filepath.ToSlash(p), "/", 2)[0]
		if strings.HasPrefix(top, "..") {
			t.Fatalf("accepted %q collides with the writer's ..entries", p)
		}
	})
}

// FuzzPlantedDataLink: whatever ..data points to, Write never removes or
// changes anything outside the target.
func FuzzPlantedDataLink(f *testing.F) {
	for _, s := range []string{"../victim", "..", "../..", "/", "..2020_01_01_00_00_00.000000000000/../../victim", `..\..\victim`, "..data", "..data_tmp", "victim", "..x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, link string) {
		if link == "" || strings.ContainsRune(link, 0) {
			return
		}
		parent := t.TempDir()
		victim := filepath.Join(parent, "victim")
		if err := os.Mkdir(victim, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(victim, "precious"), []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(parent, "target")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(link, filepath.Join(dir, DataDirName)); err != nil {
			return
		}
		_, _ = Write(dir, []File{{Path: "secret", Mode: 0o644, Data: []byte("x")}})
		if b, err := os.ReadFile(filepath.Join(victim, "precious")); err != nil || string(b) != "keep" {
			t.Fatalf("..data -> %q: the victim outside the target changed: %q, %v", link, b, err)
		}
		entries, _ := os.ReadDir(parent)
		if len(entries) != 2 {
			t.Fatalf("..data -> %q: the target's parent now holds %d entries", link, len(entries))
		}
	})
}
