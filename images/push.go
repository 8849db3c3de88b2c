package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/kvcsi/kvcsi/charts"
)

// PushOptions says what to publish and where.
type PushOptions struct {
	// Options selects the images and the version, as for Build. Platforms
	// defaults to DefaultPlatforms; Only defaults to kvcsi's own images (not
	// pause and busybox, whose upstream images every cluster already has).
	Options
	// Registry is host[:port]/path, the value `kvcsi addon enable
	// --image-registry` and the chart's image.registry take, e.g.
	// myacr.azurecr.io/kvcsi. Images go to <Registry>/<name>:<Version>, the
	// chart to oci://<Registry>/charts/kvcsi.
	Registry string
	// Keychain authenticates to the registry. Default: authn.DefaultKeychain
	// (the Docker config file and its credential helpers, which is where `az
	// acr login` and `docker login` put credentials).
	Keychain authn.Keychain
	// NoChart skips the Helm chart.
	NoChart bool
}

// Pushed is one artifact in the registry.
type Pushed struct {
	Name   string `json:"name"`
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
}

// Push builds the images for every platform (Build with Platforms) and
// uploads each index to <Registry>/<name>:<Version>, then the Helm chart as
// <Registry>/charts/kvcsi:<chart version> (helm push semantics). Blobs and
// manifests the registry already has are not uploaded again, so pushing
// unchanged images uploads nothing.
func Push(ctx context.Context, o PushOptions) ([]Pushed, error) {
	if err := validRegistry(o.Registry); err != nil {
		return nil, err
	}
	if o.Keychain == nil {
		o.Keychain = authn.DefaultKeychain
	}
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms
	}
	if len(o.Only) == 0 {
		for _, s := range catalog {
			if s.fixedRef == "" {
				o.Only = append(o.Only, s.name)
			}
		}
		o.Only = presentOnly(o.Options, o.Only)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	var out []Pushed
	if !o.NoChart {
		// Check the version before the long build.
		if _, err := ChartVersion(o.versionOrDefault()); err != nil {
			return nil, err
		}
	}
	built, err := Build(ctx, o.Options)
	if err != nil {
		return nil, err
	}
	for _, img := range built {
		ref, err := PushRef(o.Registry, img.Ref)
		if err != nil {
			return nil, err
		}
		tag, err := name.NewTag(ref, name.StrictValidation)
		if err != nil {
			return nil, fmt.Errorf("images: push %s: %w", ref, err)
		}
		if err := remote.WriteIndex(tag, img.Index, remote.WithContext(ctx), remote.WithAuthFromKeychain(o.Keychain)); err != nil {
			return nil, fmt.Errorf("images: push %s: %w", ref, err)
		}
		o.Logf("images: pushed %s@%s", ref, img.Digest)
		out = append(out, Pushed{Name: img.Name, Ref: ref, Digest: img.Digest})
	}
	if !o.NoChart {
		p, err := PushChart(ctx, o.Registry, o.versionOrDefault())
		if err != nil {
			return nil, err
		}
		o.Logf("images: pushed chart %s@%s", p.Ref, p.Digest)
		out = append(out, p)
	}
	return out, nil
}

func (o PushOptions) versionOrDefault() string {
	c := o.Options
	if c.Version == "" {
		_ = c.complete() // fills Version the way Build does; errors come from Build
	}
	return c.Version
}

// presentOnly drops images whose ./cmd/<name> is not in the tree from the
// default selection (Build would skip them too, but Only makes it an error).
func presentOnly(o Options, names []string) []string {
	root := o.RepoRoot
	if root == "" {
		r, err := findRepoRoot()
		if err != nil {
			return names
		}
		root = r
	}
	var out []string
	for _, n := range names {
		if hasGoFiles(filepath.Join(root, "cmd", n)) {
			out = append(out, n)
		}
	}
	return out
}

func validRegistry(r string) error {
	if r == "" || strings.ContainsAny(r, " \t@") || strings.HasSuffix(r, "/") || strings.Contains(r, "://") {
		return fmt.Errorf("images: registry %q is malformed: give host[:port]/path without a scheme or trailing slash, e.g. myacr.azurecr.io/kvcsi", r)
	}
	if _, err := name.NewRepository(r+"/x", name.StrictValidation); err != nil {
		return fmt.Errorf("images: registry %q: %w", r, err)
	}
	return nil
}

// PushRef is where the image built as ref goes in registry: kvcsi's images
// keep their name and tag under the registry
// (ghcr.io/kvcsi/kvemulator:v1 → <registry>/kvemulator:v1), pause and busybox
// keep their last path element (registry.k8s.io/pause:3.10 →
// <registry>/pause:3.10).
func PushRef(registry, ref string) (string, error) {
	t, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return "", err
	}
	return registry + "/" + path.Base(t.RepositoryStr()) + ":" + t.TagStr(), nil
}

// ChartVersion is the chart version for a kvcsi version: SemVer 2 without the
// leading v (v0.2.0 → 0.2.0), as Helm requires.
func ChartVersion(version string) (string, error) {
	v := strings.TrimPrefix(version, "v")
	if _, err := semver.StrictNewVersion(v); err != nil {
		return "", fmt.Errorf("images: VERSION %q cannot version the Helm chart (%v): use a SemVer version such as v0.2.0", version, err)
	}
	return v, nil
}

// ChartRepository is where PushChart puts the chart: `helm install kvcsi
// oci://<ChartRepository(registry)> --version <ChartVersion>`.
func ChartRepository(registry string) string { return registry + "/charts/kvcsi" }

// chartCreated is the creation annotation of the pushed chart, fixed so that
// the same chart gives the same manifest.
var chartCreated = epoch.Format(time.RFC3339)

// PushChart packages the embedded chart (the bytes the add-on manager and
// deploy/ render) with version and appVersion set from version (so its
// default image.tag is the pushed images' tag) and pushes it with Helm's
// registry client to <registry>/charts/kvcsi:<ChartVersion(version)>.
// Credentials: Helm's registry config, falling back to the Docker config
// (`az acr login`, `docker login`); plain HTTP for loopback and private
// addresses, as go-containerregistry does.
func PushChart(ctx context.Context, registryPath, version string) (Pushed, error) {
	if err := validRegistry(registryPath); err != nil {
		return Pushed{}, err
	}
	cv, err := ChartVersion(version)
	if err != nil {
		return Pushed{}, err
	}
	c, err := charts.Load()
	if err != nil {
		return Pushed{}, err
	}
	c.Metadata.Version = cv
	c.Metadata.AppVersion = version
	dir, err := os.MkdirTemp("", "kvcsi-chart-")
	if err != nil {
		return Pushed{}, err
	}
	defer os.RemoveAll(dir)
	tgz, err := chartutil.Save(c, dir)
	if err != nil {
		return Pushed{}, fmt.Errorf("images: package chart: %w", err)
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		return Pushed{}, err
	}
	if data, err = normalizeTgz(data); err != nil {
		return Pushed{}, fmt.Errorf("images: package chart: %w", err)
	}
	client, err := NewHelmRegistryClient(registryPath)
	if err != nil {
		return Pushed{}, err
	}
	ref := ChartRepository(registryPath) + ":" + strings.ReplaceAll(cv, "+", "_")
	if err := ctx.Err(); err != nil {
		return Pushed{}, err
	}
	res, err := client.Push(data, ref, registry.PushOptCreationTime(chartCreated))
	if err != nil {
		return Pushed{}, fmt.Errorf("images: push chart %s: %w", ref, err)
	}
	return Pushed{Name: "chart/kvcsi", Ref: ref, Digest: res.Manifest.Digest}, nil
}

// normalizeTgz rewrites a chart archive with every time set to the epoch
// (chartutil.Save stamps the current time into the tar headers and the gzip
// header), so that the same chart gives the same digest and pushing it again
// uploads nothing.
func normalizeTgz(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = epoch, time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NewHelmRegistryClient is Helm's registry client as `helm push` and `helm
// install oci://` use it for registryPath, with plain HTTP where
// go-containerregistry would use it (loopback, localhost, private addresses).
func NewHelmRegistryClient(registryPath string) (*registry.Client, error) {
	repo, err := name.NewRepository(registryPath+"/x", name.StrictValidation)
	if err != nil {
		return nil, err
	}
	var opts []registry.ClientOption
	if repo.Registry.Scheme() == "http" {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("images: helm registry client: %w", err)
	}
	return c, nil
}
