// Package images is kvcsi's one image build path. It builds the OCI images of
// kvcsi's static binaries, a pause image and a busybox shell image without
// Docker or a registry, using go-containerregistry, and writes each as a
// docker-archive tarball that `ctr images import`, `kind load image-archive`
// and `docker load` all accept. The local cluster imports these tarballs into
// its containerd, `make e2e` loads them into kind, and `make images` writes
// them for people; all three call Build.
package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
)

// Options says what to build and where. The zero value builds every image
// whose source exists, tagged with this binary's version, into
// <repo>/_output/images.
type Options struct {
	// Version tags kvcsi's own images (ghcr.io/kvcsi/<name>:<Version>) and is
	// stamped into the binaries and the org.opencontainers.image.version label.
	// Default: buildinfo.Version of the calling binary.
	Version string
	// OutDir receives <name>.tar per image and the manifest images.json.
	// Default: <RepoRoot>/_output/images.
	OutDir string
	// RepoRoot is the kvcsi module checkout the binaries are built from.
	// Default: the nearest parent of the working directory whose go.mod
	// declares module github.com/kvcsi/kvcsi.
	RepoRoot string
	// Only restricts the build to these image names (see Names). Asking for
	// an image whose source is not in the tree is an error; with Only empty,
	// such images are skipped and listed in the manifest's "missing".
	Only []string
	// Binaries maps an image name to a prebuilt static binary to put in the
	// image instead of building ./cmd/<name>. For callers that already built
	// the binaries (and for tests).
	Binaries map[string]string
	// GOARCH is the target architecture. Default: runtime.GOARCH. The busybox
	// image always carries the host's busybox, so it must match the host.
	GOARCH string
	// Go is the go command. Default: go from PATH, else $GOROOT/bin/go, else
	// /usr/local/go/bin/go.
	Go string
	// BusyboxPath is the static busybox binary (Debian busybox-static).
	// Default: /bin/busybox.
	BusyboxPath string
	// CABundlePath is the PEM bundle put in the images that call TLS
	// services (Debian ca-certificates). Default:
	// /etc/ssl/certs/ca-certificates.crt.
	CABundlePath string
	// Logf receives progress lines. Default: discarded.
	Logf func(format string, args ...any)
	// Platforms, when set, builds every image for each of these linux
	// architectures ("amd64", "arm64", or "linux/arm64"), cross-compiled with
	// CGO_ENABLED=0, and returns each as an OCI image index in Image.Index
	// (OCI media types) instead of writing a tarball; Push uploads them.
	// GOARCH and Binaries do not apply, and busybox (the host's binary) is
	// skipped unless asked for with Only, which is then an error.
	Platforms []string

	oci bool // OCI media types (set for Platforms)
}

// Image is one built image tarball.
type Image struct {
	// Name is the short name (see Names), e.g. "pause".
	Name string `json:"name"`
	// Ref is the reference the tarball is tagged with, e.g.
	// "registry.k8s.io/pause:3.10".
	Ref string `json:"ref"`
	// Path is the absolute path of the docker-archive tarball.
	Path string `json:"path"`
	// ID is the image ID (config digest), as `ctr images ls` and `crictl
	// images` show it.
	ID string `json:"id"`
	// Digest is the manifest digest.
	Digest string `json:"digest"`
	// Cached is true when the tarball from an earlier build was kept because
	// none of its inputs changed.
	Cached bool `json:"-"`
	// Index is the multi-platform image when Options.Platforms is set (Path
	// is then empty and Digest is the index's digest).
	Index v1.ImageIndex `json:"-"`
}

// MissingSourceError reports images whose ./cmd/<name> is not in the tree
// (yet), when they were asked for explicitly with Options.Only.
type MissingSourceError struct {
	Names []string
}

func (e *MissingSourceError) Error() string {
	paths := make([]string, len(e.Names))
	for i, n := range e.Names {
		paths[i] = "./cmd/" + n
	}
	return fmt.Sprintf("images %s cannot be built: %s has no Go files in this tree; build the others with Options.Only (make images IMAGES=...) or pass a prebuilt binary in Options.Binaries",
		strings.Join(e.Names, ", "), strings.Join(paths, ", "))
}

// Build builds the images and returns them in catalog order. An image is
// rebuilt only when its inputs changed (its binary, the version, the CA bundle
// or busybox, the recipe); otherwise the existing tarball is returned with
// Cached set. Concurrent Builds into one OutDir are serialised with a lock.
func Build(ctx context.Context, o Options) ([]Image, error) {
	if err := o.complete(); err != nil {
		return nil, err
	}
	specs, missing, err := o.selectSpecs()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("images: create OutDir: %w", err)
	}
	unlock, err := lockDir(o.OutDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	for _, m := range missing {
		o.Logf("images: skipping %s: ./cmd/%s is not in this tree yet", m, m)
	}
	if len(o.Platforms) > 0 {
		return o.buildIndexes(ctx, specs)
	}
	bins, err := o.binaries(ctx, specs)
	if err != nil {
		return nil, err
	}
	out := make([]Image, 0, len(specs))
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		img, err := o.buildOne(s, bins[s.name])
		if err != nil {
			return nil, fmt.Errorf("images: %s: %w", s.name, err)
		}
		if img.Cached {
			o.Logf("images: %s unchanged (%s)", img.Ref, img.Path)
		} else {
			o.Logf("images: built %s (%s)", img.Ref, img.Path)
		}
		out = append(out, img)
	}
	if err := writeManifest(o.OutDir, o.Version, out, missing); err != nil {
		return nil, err
	}
	return out, nil
}

func (o *Options) complete() error {
	if o.Version == "" {
		o.Version = buildinfo.Version
	}
	if _, err := name.NewTag("example.com/x:"+o.Version, name.StrictValidation); err != nil {
		return fmt.Errorf("images: Version %q is not a valid image tag: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", o.Version)
	}
	for _, n := range o.Only {
		if _, ok := lookup(n); !ok {
			return fmt.Errorf("images: Only: unknown image %q; known images are %s", n, strings.Join(Names(), ", "))
		}
	}
	for n := range o.Binaries {
		s, ok := lookup(n)
		if !ok || !s.goBinary() {
			return fmt.Errorf("images: Binaries: %q is not an image built from a Go binary; known: %s", n, strings.Join(goNames(), ", "))
		}
	}
	if err := o.completePlatforms(); err != nil {
		return err
	}
	if o.RepoRoot == "" {
		root, err := findRepoRoot()
		if err != nil {
			return err
		}
		o.RepoRoot = root
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join(o.RepoRoot, "_output", "images")
	}
	abs, err := filepath.Abs(o.OutDir)
	if err != nil {
		return fmt.Errorf("images: OutDir: %w", err)
	}
	o.OutDir = abs
	if o.GOARCH == "" {
		o.GOARCH = runtime.GOARCH
	}
	if o.BusyboxPath == "" {
		o.BusyboxPath = "/bin/busybox"
	}
	if o.CABundlePath == "" {
		o.CABundlePath = "/etc/ssl/certs/ca-certificates.crt"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

func goNames() []string {
	var out []string
	for _, s := range catalog {
		if s.goBinary() {
			out = append(out, s.name)
		}
	}
	return out
}

// selectSpecs returns the recipes to build and the names skipped because
// their source is not in the tree.
func (o *Options) selectSpecs() (specs []spec, missing []string, err error) {
	var explicitMissing []string
	for _, s := range catalog {
		if len(o.Only) > 0 && !slices.Contains(o.Only, s.name) {
			continue
		}
		if s.goBinary() && o.Binaries[s.name] == "" && !hasGoFiles(filepath.Join(o.RepoRoot, "cmd", s.name)) {
			if len(o.Only) > 0 {
				explicitMissing = append(explicitMissing, s.name)
			} else {
				missing = append(missing, s.name)
			}
			continue
		}
		specs = append(specs, s)
	}
	if len(explicitMissing) > 0 {
		return nil, nil, &MissingSourceError{Names: explicitMissing}
	}
	return specs, missing, nil
}

func hasGoFiles(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			return true
		}
	}
	return false
}

// findRepoRoot walks up from the working directory to kvcsi's go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(data)), "module github.com/kvcsi/kvcsi\n") {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("images: read %s: %w", filepath.Join(dir, "go.mod"), err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("images: RepoRoot not set and no parent of the working directory is the github.com/kvcsi/kvcsi module; set Options.RepoRoot")
		}
		dir = parent
	}
}
