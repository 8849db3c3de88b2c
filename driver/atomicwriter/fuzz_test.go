package atomicwriter

import (
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
