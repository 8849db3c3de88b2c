package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	helmregistry "helm.sh/helm/v3/pkg/registry"
)

// writeCounter counts the requests that upload something to the registry.
type writeCounter struct {
	mu     sync.Mutex
	writes []string
}

func (c *writeCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			c.mu.Lock()
			c.writes = append(c.writes, r.Method+" "+r.URL.Path)
			c.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (c *writeCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	return w
}

// TestPushToLoopbackRegistry pushes the provider and pause images (two of
// them keep the cross-compile affordable on CI) and the chart to an
// in-process registry on 127.0.0.1, pulls everything back as a cluster and
// `helm install oci://` would, then builds again into another directory and
// pushes: same digests, nothing uploaded.
func TestPushToLoopbackRegistry(t *testing.T) {
	needHostInputs(t) // the provider image carries the host's CA bundle
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv("HELM_CONFIG_HOME", t.TempDir())
	t.Setenv("HELM_CACHE_HOME", t.TempDir())
	var counter writeCounter
	srv := httptest.NewServer(counter.wrap(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://") + "/kvcsi"
	if !strings.HasPrefix(reg, "127.0.0.1:") {
		t.Fatalf("registry %s is not on loopback", reg)
	}

	const version = "v0.9.1"
	only := []string{"secrets-store-provider-azure", "pause"}
	ctx := context.Background()
	o := PushOptions{Options: Options{Version: version, OutDir: t.TempDir(), Only: only, Logf: t.Logf}, Registry: reg}
	pushed, err := Push(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, p := range pushed {
		refs = append(refs, p.Ref)
	}
	wantRefs := []string{
		reg + "/secrets-store-provider-azure:" + version,
		reg + "/pause:3.10",
		reg + "/charts/kvcsi:0.9.1",
	}
	if !slices.Equal(refs, wantRefs) {
		t.Fatalf("pushed %q, want %q", refs, wantRefs)
	}
	if w := counter.take(); len(w) == 0 {
		t.Fatal("the first push uploaded nothing")
	}

	for _, p := range pushed[:2] {
		checkPulledIndex(t, p)
	}
	checkPulledChart(t, reg, version)

	// Reproducible and idempotent: a second build into a fresh directory
	// (binaries relinked, layers recompressed) gives the same digests, so
	// pushing it uploads nothing.
	o.OutDir, o.Platforms = t.TempDir(), []string{"linux/arm64", "amd64"}
	again, err := Push(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// Helm's client (oras) always re-PUTs the tag of the chart manifest, the
	// same bytes; nothing else may be written.
	chartTag := "PUT /v2/kvcsi/charts/kvcsi/manifests/0.9.1"
	if w := slices.DeleteFunc(counter.take(), func(s string) bool { return s == chartTag }); len(w) != 0 {
		t.Errorf("pushing unchanged images and chart uploaded %d times: %q", len(w), w)
	}
	for i := range pushed {
		if again[i].Digest != pushed[i].Digest {
			t.Errorf("%s: rebuilt digest %s, first %s: the build is not reproducible", pushed[i].Ref, again[i].Digest, pushed[i].Digest)
		}
	}

}

func checkPulledIndex(t *testing.T, p Pushed) {
	t.Helper()
	ref, err := name.NewTag(p.Ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatalf("pull %s: %v", p.Ref, err)
	}
	if d, _ := idx.Digest(); d.String() != p.Digest {
		t.Errorf("%s: pulled digest %s, pushed %s", p.Ref, d, p.Digest)
	}
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("%s: media type %s, want an OCI image index", p.Ref, mt)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	var archs []string
	for _, desc := range im.Manifests {
		if desc.Platform == nil || desc.Platform.OS != "linux" {
			t.Errorf("%s: manifest %s has platform %+v", p.Ref, desc.Digest, desc.Platform)
			continue
		}
		arch := desc.Platform.Architecture
		archs = append(archs, arch)
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != arch {
			t.Errorf("%s %s: config says %s/%s", p.Ref, arch, cf.OS, cf.Architecture)
		}
		entry := "/" + p.Name
		if !slices.Equal(cf.Config.Entrypoint, []string{entry}) {
			t.Errorf("%s %s: entrypoint %q, want [%s]", p.Ref, arch, cf.Config.Entrypoint, entry)
		}
		bin := fileInImage(t, img, entry)
		f, err := elf.NewFile(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("%s %s: %s is not ELF: %v", p.Ref, arch, entry, err)
		}
		if f.Machine != machines[arch] {
			t.Errorf("%s %s: %s is %v, want %v", p.Ref, arch, entry, f.Machine, machines[arch])
		}
	}
	slices.Sort(archs)
	if !slices.Equal(archs, []string{"amd64", "arm64"}) {
		t.Errorf("%s: platforms %q, want amd64 and arm64", p.Ref, archs)
	}
}

func fileInImage(t *testing.T, img v1.Image, path string) []byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("no %s in the image", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if "/"+hdr.Name == path {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}

// checkPulledChart pulls the chart as `helm install oci://` does and renders
// it with the registry as image.registry.
func checkPulledChart(t *testing.T, reg, version string) {
	t.Helper()
	client, err := NewHelmRegistryClient(reg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Pull(ChartRepository(reg)+":0.9.1", helmregistry.PullOptWithChart(true))
	if err != nil {
		t.Fatalf("helm pull: %v", err)
	}
	c, err := loader.LoadArchive(bytes.NewReader(res.Chart.Data))
	if err != nil {
		t.Fatalf("pulled chart: %v", err)
	}
	if c.Metadata.Version != "0.9.1" || c.Metadata.AppVersion != version {
		t.Errorf("pulled chart version %s appVersion %s, want 0.9.1 and %s", c.Metadata.Version, c.Metadata.AppVersion, version)
	}
	vals, err := chartutil.ToRenderValues(c, map[string]any{"image": map[string]any{"registry": reg}},
		chartutil.ReleaseOptions{Name: "kvcsi", Namespace: "kube-system", Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Engine{Strict: true}.Render(c, vals)
	if err != nil {
		t.Fatalf("render pulled chart: %v", err)
	}
	want := "image: " + reg + "/secrets-store-provider-azure:" + version
	for _, s := range out {
		if strings.Contains(s, want) {
			return
		}
	}
	t.Errorf("the pulled chart rendered with image.registry=%s has no %q", reg, want)
}

func TestPushRefAndChartVersion(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/kvcsi/kvemulator:v1.2.3":                "myacr.azurecr.io/kvcsi/kvemulator:v1.2.3",
		"registry.k8s.io/pause:3.10":                     "myacr.azurecr.io/kvcsi/pause:3.10",
		"registry.k8s.io/e2e-test-images/busybox:1.29-1": "myacr.azurecr.io/kvcsi/busybox:1.29-1",
	} {
		if got, err := PushRef("myacr.azurecr.io/kvcsi", ref); err != nil || got != want {
			t.Errorf("PushRef(%s) = %q, %v; want %q", ref, got, err, want)
		}
	}
	for v, want := range map[string]string{"v0.2.0": "0.2.0", "0.1.0": "0.1.0", "v1.0.0-rc.1": "1.0.0-rc.1"} {
		if got, err := ChartVersion(v); err != nil || got != want {
			t.Errorf("ChartVersion(%s) = %q, %v; want %q", v, got, err, want)
		}
	}
	for _, v := range []string{"dev", "v1.2", "latest"} {
		if _, err := ChartVersion(v); err == nil {
			t.Errorf("ChartVersion(%q) accepted a version Helm refuses", v)
		}
	}
	for _, r := range []string{"", "https://myacr.azurecr.io/kvcsi", "myacr.azurecr.io/kvcsi/", "my acr"} {
		if _, err := Push(context.Background(), PushOptions{Registry: r}); err == nil || !strings.Contains(err.Error(), "registry") {
			t.Errorf("Push(Registry: %q) = %v, want a registry error", r, err)
		}
	}
	if _, err := Build(context.Background(), Options{Version: "x", Platforms: []string{"amd64"}, Only: []string{"busybox"}}); err == nil {
		t.Error("Build of busybox for Platforms succeeded; it carries the host's busybox")
	}
	if _, err := Build(context.Background(), Options{Version: "x", Platforms: []string{"windows/amd64"}}); err == nil {
		t.Error("Build for windows/amd64 succeeded")
	}
}
