package atomicwriter

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestValidatePath(t *testing.T) {
	tests := []struct {
		name, path string
		wantErr    string
	}{
		{name: "plain", path: "secret1"},
		{name: "nested", path: "dir/secret1"},
		{name: "dots inside a name", path: "a..b"},
		{name: "hidden file", path: ".hidden"},
		{name: "empty", path: "", wantErr: "empty"},
		{name: "absolute", path: "/etc/passwd", wantErr: "absolute"},
		{name: "leading dotdot", path: "../x", wantErr: "start with '..'"},
		{name: "leading dotdot name", path: "..data", wantErr: "start with '..'"},
		{name: "inner dotdot", path: "a/../../x", wantErr: "'..'"},
		{name: "not clean", path: "a//b", wantErr: "not clean"},
		{name: "trailing slash", path: "a/", wantErr: "not clean"},
		{name: "dot", path: ".", wantErr: "mount itself"},
		{name: "dot prefix", path: "./a", wantErr: "not clean"},
		{name: "long name", path: strings.Repeat("a", 256), wantErr: "longer than 255"},
		{name: "max name", path: strings.Repeat("a", 255)},
		{name: "long path", path: strings.Repeat("a/", 2100) + "b", wantErr: "longer than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePath(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidatePath(%q) = %v, want nil", tt.path, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidatePath(%q) = %v, want error containing %q", tt.path, err, tt.wantErr)
			}
		})
	}
}

// listFiles returns the payload paths of the current version.
func listFiles(dir string) ([]string, error) {
	tsName, err := os.Readlink(filepath.Join(dir, DataDirName))
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, tsName)
	var out []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	paths, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(dir, p)) // through the user-visible link
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

func TestWriteLayoutAndUpdate(t *testing.T) {
	dir := t.TempDir()
	changed, err := Write(dir, []File{
		{Path: "s1", Mode: 0o644, Data: []byte("one")},
		{Path: "certs/tls.crt", Mode: 0o600, Data: []byte("crt")},
	})
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	if got := readAll(t, dir); got["s1"] != "one" || got["certs/tls.crt"] != "crt" || len(got) != 2 {
		t.Fatalf("content %v", got)
	}
	link, err := os.Readlink(filepath.Join(dir, "s1"))
	if err != nil || link != filepath.Join("..data", "s1") {
		t.Fatalf("user-visible link s1 -> %q (%v)", link, err)
	}
	ts1, _ := os.Readlink(filepath.Join(dir, DataDirName))
	if !strings.HasPrefix(ts1, "..") {
		t.Fatalf("..data -> %q, want a ..<timestamp> directory", ts1)
	}
	st, _ := os.Stat(filepath.Join(dir, "certs/tls.crt"))
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	dst, _ := os.Stat(filepath.Join(dir, ts1))
	if runtime.GOOS != "windows" && dst.Mode().Perm() != 0o755 {
		t.Fatalf("version dir mode %v, want 0755", dst.Mode().Perm())
	}

	// Same content: nothing written, same version directory.
	changed, err = Write(dir, []File{
		{Path: "certs/tls.crt", Mode: 0o600, Data: []byte("crt")},
		{Path: "s1", Mode: 0o644, Data: []byte("one")},
	})
	if err != nil || changed {
		t.Fatalf("unchanged write: changed=%v err=%v", changed, err)
	}
	if ts, _ := os.Readlink(filepath.Join(dir, DataDirName)); ts != ts1 {
		t.Fatalf("unchanged write swapped ..data to %q", ts)
	}

	// A mode change alone is a change.
	if changed, err = Write(dir, []File{{Path: "s1", Mode: 0o640, Data: []byte("one")}, {Path: "certs/tls.crt", Mode: 0o600, Data: []byte("crt")}}); err != nil || !changed {
		t.Fatalf("mode change: changed=%v err=%v", changed, err)
	}

	// New version drops certs/ and adds s2; the old version is removed.
	changed, err = Write(dir, []File{
		{Path: "s1", Mode: 0o644, Data: []byte("two")},
		{Path: "s2", Mode: 0o644, Data: []byte("new")},
	})
	if err != nil || !changed {
		t.Fatalf("second write: changed=%v err=%v", changed, err)
	}
	if got := readAll(t, dir); got["s1"] != "two" || got["s2"] != "new" || len(got) != 2 {
		t.Fatalf("content %v", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "certs")); !os.IsNotExist(err) {
		t.Fatalf("stale link certs still there: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// ..data, one version dir, s1, s2.
	if len(names) != 4 {
		t.Fatalf("directory holds %v, want ..data, one version, s1, s2", names)
	}
}

func TestWriteRejectsBadPayloadAndKeepsOldContent(t *testing.T) {
	tests := []struct {
		name    string
		files   []File
		wantErr string
	}{
		{"absolute", []File{{Path: "/etc/x", Mode: 0o644}}, "absolute"},
		{"escape", []File{{Path: "a/../../x", Mode: 0o644}}, "'..'"},
		{"duplicate", []File{{Path: "a", Mode: 0o644}, {Path: "a", Mode: 0o644}}, "twice"},
		{"file and dir", []File{{Path: "a", Mode: 0o644}, {Path: "a/b", Mode: 0o644}}, "both a file and the directory"},
		{"reserved name", []File{{Path: "..data", Mode: 0o644}}, "'..'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "target")
			if err := os.Mkdir(dir, 0o750); err != nil {
				t.Fatal(err)
			}
			if _, err := Write(dir, []File{{Path: "keep", Mode: 0o644, Data: []byte("old")}}); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadDir(dir)
			_, err := Write(dir, append([]File{{Path: "keep", Mode: 0o644, Data: []byte("new")}}, tt.files...))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if got := readAll(t, dir); got["keep"] != "old" || len(got) != 1 {
				t.Fatalf("old content lost: %v", got)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Fatalf("partial files left: before %d entries, after %d", len(before), len(after))
			}
			// Nothing was written next to the target.
			if ents, _ := os.ReadDir(parent); len(ents) != 1 {
				t.Fatalf("files outside the target: %v", ents)
			}
		})
	}
}

func TestWriteFailureMidwayLeavesNoPartialVersion(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, []File{{Path: "a", Mode: 0o644, Data: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	// A foreign regular file where the new version wants its link.
	if err := os.WriteFile(filepath.Join(dir, "b"), []byte("foreign"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Write(dir, []File{{Path: "a", Mode: 0o644, Data: []byte("2")}, {Path: "b", Mode: 0o644, Data: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "not a link") {
		t.Fatalf("err = %v, want clash error", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "1" {
		t.Fatalf("a = %q, want old content", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "b")); string(b) != "foreign" {
		t.Fatalf("foreign file modified: %q", b)
	}
	ents, _ := os.ReadDir(dir)
	versions := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "..") && e.Name() != DataDirName {
			versions++
		}
	}
	if versions != 1 {
		t.Fatalf("%d version directories left, want 1", versions)
	}
}

// TestReadersNeverSeeTornOrMixedVersions rewrites three files 150 times
// while readers read them continuously; every read of one file must be a
// complete version, and a reader resolving ..data once must see all files
// of the same version.
func TestReadersNeverSeeTornOrMixedVersions(t *testing.T) {
	dir := t.TempDir()
	payload := func(v int) []File {
		// Large enough that a torn write would be visible.
		body := func(name string) []byte {
			return bytes.Repeat([]byte(fmt.Sprintf("%s-v%06d|", name, v)), 4096)
		}
		return []File{
			{Path: "a", Mode: 0o644, Data: body("a")},
			{Path: "b", Mode: 0o644, Data: body("b")},
			{Path: "sub/c", Mode: 0o644, Data: body("c")},
		}
	}
	if _, err := Write(dir, payload(0)); err != nil {
		t.Fatal(err)
	}
	const rotations = 150
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errc := make(chan error, 8)
	version := func(b []byte, name string) (string, error) {
		unit := len(name) + len("-v000000|")
		if len(b) == 0 || len(b)%unit != 0 {
			return "", fmt.Errorf("%s: torn read of %d bytes", name, len(b))
		}
		first := b[:unit]
		if !bytes.Equal(b, bytes.Repeat(first, len(b)/unit)) {
			return "", fmt.Errorf("%s: mixed content in one read", name)
		}
		return string(first[len(name)+1 : unit-1]), nil
	}
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				// Per file, through the user-visible links.
				for _, name := range []string{"a", "b", "sub/c"} {
					b, err := os.ReadFile(filepath.Join(dir, name))
					if os.IsNotExist(err) {
						// The path walk can reach the old version just as it
						// is removed; like kubelet's volumes, a reader then
						// retries. It never gets wrong bytes.
						continue
					}
					if err != nil {
						errc <- fmt.Errorf("read %s: %w", name, err)
						return
					}
					if _, err := version(b, filepath.Base(name)); err != nil {
						errc <- err
						return
					}
					reads.Add(1)
				}
				// One version across files: resolve ..data once.
				ts, err := os.Readlink(filepath.Join(dir, DataDirName))
				if err != nil {
					errc <- err
					return
				}
				var vs []string
				for _, name := range []string{"a", "b", "sub/c"} {
					b, err := os.ReadFile(filepath.Join(dir, ts, name))
					if os.IsNotExist(err) {
						vs = nil // version removed under us: retry, not an error
						break
					}
					if err != nil {
						errc <- err
						return
					}
					v, err := version(b, filepath.Base(name))
					if err != nil {
						errc <- err
						return
					}
					vs = append(vs, v)
				}
				if len(vs) == 3 && (vs[0] != vs[1] || vs[1] != vs[2]) {
					errc <- fmt.Errorf("mixed versions in one ..data: %v", vs)
					return
				}
			}
		}()
	}
	for v := 1; v <= rotations; v++ {
		if _, err := Write(dir, payload(v)); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("readers never read")
	}
	if got := readAll(t, dir); !strings.HasPrefix(got["a"], fmt.Sprintf("a-v%06d|", rotations)) {
		t.Fatalf("final content is not the last version")
	}
}

func BenchmarkWrite(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		files := []File{{Path: "s1", Mode: 0o644, Data: []byte(fmt.Sprint("secret", i))}, {Path: "s2", Mode: 0o644, Data: []byte("static")}}
		if _, err := Write(dir, files); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteRefusesPlantedDataLink: a ..data that is not this writer's own
// (a relative link out of the target, an absolute link, a link to a
// non-version name, a directory) makes Write refuse with the path and change
// nothing: the victim outside the target and the target itself stay as they
// were.
func TestWriteRefusesPlantedDataLink(t *testing.T) {
	for _, tt := range []struct {
		name  string
		plant func(t *testing.T, dir, victim string)
	}{
		{"relative link out of the target", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink(filepath.Join("..", filepath.Base(victim)), filepath.Join(dir, DataDirName)))
		}},
		{"dot-dot-prefixed link out of the target", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink("../"+filepath.Base(victim), filepath.Join(dir, DataDirName)))
		}},
		{"absolute link", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink(victim, filepath.Join(dir, DataDirName)))
		}},
		{"link to the parent", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink("..", filepath.Join(dir, DataDirName)))
		}},
		{"link to a name without ..", func(t *testing.T, dir, victim string) {
			must(t, os.Mkdir(filepath.Join(dir, "keep"), 0o755))
			must(t, os.Symlink("keep", filepath.Join(dir, DataDirName)))
		}},
		{"link to a version symlinked out", func(t *testing.T, dir, victim string) {
			must(t, os.Symlink(victim, filepath.Join(dir, "..2020_01_01_00_00_00.000000000000")))
			must(t, os.Symlink("..2020_01_01_00_00_00.000000000000", filepath.Join(dir, DataDirName)))
		}},
		{"..data is a directory", func(t *testing.T, dir, victim string) {
			must(t, os.Mkdir(filepath.Join(dir, DataDirName), 0o755))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			victim := filepath.Join(parent, "victim")
			must(t, os.Mkdir(victim, 0o755))
			must(t, os.WriteFile(filepath.Join(victim, "precious"), []byte("keep me"), 0o644))
			dir := filepath.Join(parent, "target")
			must(t, os.Mkdir(dir, 0o755))
			tt.plant(t, dir, victim)
			before := tree(t, dir)

			_, err := Write(dir, []File{{Path: "secret", Mode: 0o644, Data: []byte("v2")}})
			if err == nil || !strings.Contains(err.Error(), "refusing to write "+dir) {
				t.Fatalf("Write = %v, want a refusal naming %s", err, dir)
			}
			if b, err := os.ReadFile(filepath.Join(victim, "precious")); err != nil || string(b) != "keep me" {
				t.Fatalf("victim outside the target changed: %q, %v", b, err)
			}
			if after := tree(t, dir); after != before {
				t.Fatalf("target changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// tree lists dir's entries (names, types, link targets), not following links.
func tree(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s:%v", e.Name(), e.Type())
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			b.WriteString("->" + target)
		}
		b.WriteString(" ")
	}
	return b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
