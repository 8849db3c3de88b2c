package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageFile is one entry of an image's flattened filesystem.
type imageFile struct {
	hdr  *tar.Header
	data []byte
}

// readBack opens a tarball the way `docker load` and kind do: by the
// reference in its manifest.json.
func readBack(t *testing.T, img Image) (v1.Image, *v1.ConfigFile, map[string]imageFile) {
	t.Helper()
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(img.Path) })
	if err != nil {
		t.Fatalf("%s: not a docker archive: %v", img.Path, err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{img.Ref}) {
		t.Fatalf("%s: manifest.json RepoTags = %+v, want exactly [%s]", img.Path, m, img.Ref)
	}
	tag, err := name.NewTag(img.Ref)
	if err != nil {
		t.Fatal(err)
	}
	v1img, err := tarball.ImageFromPath(img.Path, &tag)
	if err != nil {
		t.Fatalf("read %s: %v", img.Path, err)
	}
	cf, err := v1img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := v1img.ConfigName()
	if id.String() != img.ID {
		t.Errorf("%s: image ID %s, Build reported %s", img.Name, id, img.ID)
	}
	files := map[string]imageFile{}
	rc := mutate.Extract(v1img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: layer: %v", img.Name, err)
		}
		data, _ := io.ReadAll(tr)
		files["/"+strings.TrimSuffix(hdr.Name, "/")] = imageFile{hdr: hdr, data: data}
	}
	return v1img, cf, files
}

// tinyBinary builds cmd/pause (small and quick) for recipes tests that need
// a static binary but not the real one.
func tinyBinary(t testing.TB) string {
	t.Helper()
	out := t.TempDir()
	if _, err := Build(context.Background(), Options{Version: "tiny", OutDir: out, Only: []string{"pause"}}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, ".bin", runtime.GOARCH, "pause")
}

func needHostInputs(t testing.TB) {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/etc/ssl/certs/ca-certificates.crt"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs %s (Debian busybox-static and ca-certificates; make deps): %v", p, err)
		}
	}
}

func TestEveryRecipe(t *testing.T) {
	needHostInputs(t)
	bin := tinyBinary(t)
	binData, _ := os.ReadFile(bin)
	caBundle, _ := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	bins := map[string]string{}
	for _, n := range goNames() {
		bins[n] = bin
	}
	out := t.TempDir()
	const version = "v9.8.7-test"
	built, err := Build(context.Background(), Options{Version: version, OutDir: out, Binaries: bins})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(built); !slices.Equal(got, Names()) {
		t.Fatalf("built %v, want every image %v", got, Names())
	}

	tests := []struct {
		name, ref, user, version string
		entrypoint, cmd          []string
		ca                       bool
	}{
		{"secrets-store-csi-driver", "ghcr.io/kvcsi/secrets-store-csi-driver:" + version, "0:0", version, []string{"/secrets-store-csi-driver"}, nil, false},
		{"secrets-store-provider-azure", "ghcr.io/kvcsi/secrets-store-provider-azure:" + version, "0:0", version, []string{"/secrets-store-provider-azure"}, nil, true},
		{"secrets-store-sync-controller", "ghcr.io/kvcsi/secrets-store-sync-controller:" + version, "0:0", version, []string{"/secrets-store-sync-controller"}, nil, false},
		{"kvemulator", "ghcr.io/kvcsi/kvemulator:" + version, "65532:65532", version, []string{"/kvemulator"}, nil, false},
		{"kvcsi", "ghcr.io/kvcsi/kvcsi:" + version, "65532:65532", version, []string{"/kvcsi"}, nil, true},
		{"csi-node-driver-registrar", "ghcr.io/kvcsi/csi-node-driver-registrar:" + version, "0:0", version, []string{"/csi-node-driver-registrar"}, nil, false},
		{"livenessprobe", "ghcr.io/kvcsi/livenessprobe:" + version, "0:0", version, []string{"/livenessprobe"}, nil, false},
		{"pause", "registry.k8s.io/pause:3.10", "65535:65535", "3.10", []string{"/pause"}, nil, false},
		{"busybox", "registry.k8s.io/e2e-test-images/busybox:1.29-1", "0:0", "1.29-1", nil, []string{"sh"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := built[slices.IndexFunc(built, func(i Image) bool { return i.Name == tc.name })]
			if img.Ref != tc.ref || img.Path != filepath.Join(out, tc.name+".tar") {
				t.Fatalf("image %+v, want ref %s in %s", img, tc.ref, out)
			}
			_, cf, files := readBack(t, img)
			c := cf.Config
			if c.User != tc.user || !slices.Equal(c.Entrypoint, tc.entrypoint) || !slices.Equal(c.Cmd, tc.cmd) {
				t.Errorf("config user=%q entrypoint=%q cmd=%q, want %q %q %q", c.User, c.Entrypoint, c.Cmd, tc.user, tc.entrypoint, tc.cmd)
			}
			if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
				t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
			}
			if c.Labels[LabelVersion] != tc.version || c.Labels[LabelBuild] != version || c.Labels[LabelTitle] != tc.name || c.Labels[LabelSource] == "" {
				t.Errorf("labels %v", c.Labels)
			}
			if tc.entrypoint != nil {
				f, ok := files[tc.entrypoint[0]]
				if !ok || f.hdr.Typeflag != tar.TypeReg || f.hdr.Mode&0o111 == 0 || !bytes.Equal(f.data, binData) {
					t.Errorf("entrypoint %s missing, not executable or not the given binary", tc.entrypoint[0])
				}
			}
			ca, hasCA := files["/etc/ssl/certs/ca-certificates.crt"]
			if hasCA != tc.ca || (tc.ca && !bytes.Equal(ca.data, caBundle)) {
				t.Errorf("CA bundle present=%v, want %v (and equal to the host's)", hasCA, tc.ca)
			}
			if p := files["/etc/passwd"]; !strings.Contains(string(p.data), "nonroot:x:65532:65532") || !strings.Contains(string(p.data), "root:x:0:0") {
				t.Errorf("/etc/passwd = %q", p.data)
			}
			if tmp := files["/tmp"]; tmp.hdr == nil || tmp.hdr.Typeflag != tar.TypeDir || tmp.hdr.Mode&0o1777 != 0o1777 {
				t.Errorf("/tmp is not a sticky world-writable directory")
			}
			if tc.name == "busybox" {
				for _, applet := range []string{"/bin/sh", "/bin/ls", "/bin/cat", "/bin/sleep", "/usr/bin/env", "/usr/bin/wget"} {
					if f, ok := files[applet]; !ok || f.hdr.Typeflag != tar.TypeSymlink || f.hdr.Linkname != "/bin/busybox" {
						t.Errorf("applet %s is not a symlink to /bin/busybox", applet)
					}
				}
				if f := files["/bin/busybox"]; f.hdr == nil || f.hdr.Mode&0o111 == 0 {
					t.Errorf("/bin/busybox missing or not executable")
				}
			}
		})
	}

	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != version || len(m.Images) != len(Names()) || len(m.Missing) != 0 {
		t.Errorf("manifest %+v", m)
	}
}

func names(imgs []Image) []string {
	var out []string
	for _, i := range imgs {
		out = append(out, i.Name)
	}
	return out
}

// TestStampedBinariesRun builds the real sidecar and pause binaries, takes
// them out of their images and runs them, so a wrong GOOS, a cgo dependency or
// a missing version stamp shows.
func TestStampedBinariesRun(t *testing.T) {
	out := t.TempDir()
	const version = "v0.0.0-stamp"
	only := []string{"pause", "csi-node-driver-registrar", "livenessprobe"}
	built, err := Build(context.Background(), Options{Version: version, OutDir: out, Only: only})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range built {
		t.Run(img.Name, func(t *testing.T) {
			_, cf, files := readBack(t, img)
			entry := cf.Config.Entrypoint[0]
			exe := filepath.Join(t.TempDir(), img.Name)
			if err := os.WriteFile(exe, files[entry].data, 0o755); err != nil {
				t.Fatal(err)
			}
			got, err := exec.Command(exe, "--version").CombinedOutput()
			if err != nil || !strings.Contains(string(got), version) {
				t.Fatalf("%s --version = %q, %v; want it to print %s", entry, got, err, version)
			}
		})
	}
}

func TestRebuildsOnlyWhatChanged(t *testing.T) {
	needHostInputs(t)
	bin := tinyBinary(t)
	out := t.TempDir()
	opts := Options{Version: "v1", OutDir: out, Only: []string{"pause", "busybox"}, Binaries: map[string]string{"pause": bin}}
	first, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range first {
		if img.Cached {
			t.Fatalf("%s cached on the first build", img.Name)
		}
	}
	before := inodes(t, first)

	second, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range second {
		if !img.Cached {
			t.Errorf("%s rebuilt although nothing changed", img.Name)
		}
	}
	if after := inodes(t, second); !slices.Equal(before, after) {
		t.Errorf("tarballs were rewritten: inodes %v -> %v", before, after)
	}

	// A changed binary rebuilds pause, and only pause.
	changed := filepath.Join(t.TempDir(), "pause")
	data, _ := os.ReadFile(bin)
	os.WriteFile(changed, append(data, 0), 0o755)
	opts.Binaries = map[string]string{"pause": changed}
	third, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if third[0].Name != "pause" || third[0].Cached || third[0].ID == first[0].ID {
		t.Errorf("pause after binary change: %+v (first ID %s)", third[0], first[0].ID)
	}
	if !third[1].Cached {
		t.Errorf("busybox rebuilt although its inputs did not change")
	}

	// A Build of one image with another version keeps the other's manifest
	// entry, whose tarball it did not touch.
	if _, err := Build(context.Background(), Options{Version: "v2", OutDir: out, Only: []string{"pause"}, Binaries: map[string]string{"pause": changed}}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(m.Images); !slices.Equal(got, []string{"pause", "busybox"}) || m.Version != "v2" {
		t.Errorf("manifest after a pause-only build: version %s, images %v; want v2 and both images", m.Version, got)
	}

	// A removed tarball is rebuilt even though its inputs file remains.
	os.Remove(third[1].Path)
	fourth, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if fourth[1].Cached {
		t.Errorf("busybox reported cached although its tarball was deleted")
	}
	if _, err := os.Stat(fourth[1].Path); err != nil {
		t.Error(err)
	}
}

func inodes(t *testing.T, imgs []Image) []uint64 {
	t.Helper()
	var out []uint64
	for _, img := range imgs {
		fi, err := os.Stat(img.Path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fi.Sys().(*syscall.Stat_t).Ino)
	}
	return out
}

func TestBadOptions(t *testing.T) {
	fakeRoot := t.TempDir()
	os.WriteFile(filepath.Join(fakeRoot, "go.mod"), []byte("module github.com/kvcsi/kvcsi\n"), 0o644)
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"unknown image", Options{Only: []string{"nginx"}}, []string{`"nginx"`, "known images are", "pause"}},
		{"bad version", Options{Version: "v1/2"}, []string{`"v1/2"`, "valid image tag"}},
		{"binary for busybox", Options{Binaries: map[string]string{"busybox": "/bin/busybox"}}, []string{"Binaries", `"busybox"`}},
		{"source missing", Options{RepoRoot: fakeRoot, Only: []string{"kvemulator", "busybox"}}, []string{"kvemulator", "./cmd/kvemulator", "Options.Only"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.OutDir = t.TempDir()
			imgs, err := Build(context.Background(), tc.opts)
			if err == nil {
				t.Fatalf("Build succeeded with %+v: %v", tc.opts, imgs)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if ents, _ := filepath.Glob(filepath.Join(tc.opts.OutDir, "*.tar")); len(ents) != 0 {
				t.Errorf("a failed Build left tarballs: %v", ents)
			}
		})
	}
	t.Run("dynamic binary", func(t *testing.T) {
		dyn := "/bin/ls" // Debian's coreutils are dynamically linked
		if err := checkStaticELF(dyn, runtime.GOARCH); err == nil {
			t.Skipf("needs a dynamically linked %s to test with", dyn)
		}
		_, err := Build(context.Background(), Options{OutDir: t.TempDir(), Only: []string{"kvcsi"}, Binaries: map[string]string{"kvcsi": dyn}})
		if err == nil || !strings.Contains(err.Error(), "dynamically linked") || !strings.Contains(err.Error(), "kvcsi") {
			t.Errorf("Build with a dynamic binary = %v, want an error naming the image and the cause", err)
		}
	})
	t.Run("wrong architecture", func(t *testing.T) {
		needHostInputs(t)
		other := "arm64"
		if runtime.GOARCH == "arm64" {
			other = "amd64"
		}
		_, err := Build(context.Background(), Options{OutDir: t.TempDir(), GOARCH: other, Only: []string{"busybox"}})
		if err == nil || !strings.Contains(err.Error(), "GOARCH="+other) {
			t.Errorf("busybox for %s from the host's busybox = %v, want an architecture error", other, err)
		}
	})
	var missing *MissingSourceError
	_, err := Build(context.Background(), Options{RepoRoot: fakeRoot, OutDir: t.TempDir(), Only: []string{"kvcsi"}})
	if !errors.As(err, &missing) || !slices.Equal(missing.Names, []string{"kvcsi"}) {
		t.Errorf("err = %v, want a *MissingSourceError for kvcsi", err)
	}
}

// TestSkipsMissingSources: with Only empty, the images whose source is not in
// the tree are skipped and listed in the manifest, the rest are built.
func TestSkipsMissingSources(t *testing.T) {
	needHostInputs(t)
	fakeRoot := t.TempDir()
	os.WriteFile(filepath.Join(fakeRoot, "go.mod"), []byte("module github.com/kvcsi/kvcsi\n"), 0o644)
	out := t.TempDir()
	built, err := Build(context.Background(), Options{RepoRoot: fakeRoot, OutDir: out, Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(built); !slices.Equal(got, []string{"busybox"}) {
		t.Fatalf("built %v, want only busybox from a tree without cmd/", got)
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Missing, goNames()) {
		t.Errorf("manifest missing = %v, want %v", m.Missing, goNames())
	}
}

// TestBusyboxShellRuns unpacks the shell image and runs the documentation's
// commands in it with chroot, so the applet layout is proven, not assumed.
func TestBusyboxShellRuns(t *testing.T) {
	needHostInputs(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: chroot into the unpacked image")
	}
	if testing.Short() {
		t.Skip("chroots as root (-short, as in make test-unit, needs no root)")
	}
	built, err := Build(context.Background(), Options{Version: "v1", OutDir: t.TempDir(), Only: []string{"busybox"}})
	if err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	_, _, files := readBack(t, built[0])
	for p, f := range files {
		dst := filepath.Join(rootfs, p)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		switch f.hdr.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(dst, os.FileMode(f.hdr.Mode)&os.ModePerm)
		case tar.TypeReg:
			os.WriteFile(dst, f.data, os.FileMode(f.hdr.Mode)&os.ModePerm)
		case tar.TypeSymlink:
			os.Symlink(f.hdr.Linkname, dst)
		}
	}
	os.MkdirAll(filepath.Join(rootfs, "mnt/secrets-store"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "mnt/secrets-store/ExampleSecret"), []byte("shown-by-cat"), 0o644)
	cmd := exec.Command("/bin/sh", "-c", "ls /mnt/secrets-store/ && cat /mnt/secrets-store/ExampleSecret && echo && env && /bin/sleep 0 && wget --help 2>&1 | head -1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SECRET_USERNAME=from-env"}
	cmd.Dir = "/"
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("shell in the image failed: %v\n%s", err, got)
	}
	for _, want := range []string{"ExampleSecret", "shown-by-cat", "SECRET_USERNAME=from-env", "BusyBox"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
