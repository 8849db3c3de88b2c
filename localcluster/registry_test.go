package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/images"
)

func TestInsecureRegistriesValidation(t *testing.T) {
	for _, h := range []string{"127.0.0.1:5000", "localhost:5000", "registry.example", "myacr.azurecr.io", "198.18.0.1:30500"} {
		if _, err := (Config{RunDir: t.TempDir(), InsecureRegistries: []string{h}}).withDefaults(); err != nil {
			t.Errorf("InsecureRegistries %q: %v", h, err)
		}
	}
	for _, h := range []string{"", "http://127.0.0.1:5000", "127.0.0.1:5000/kvcsi", "a..b", "../etc", "host:0", "host:70000", "host:", "-host", "host name"} {
		_, err := (Config{RunDir: t.TempDir(), InsecureRegistries: []string{h}}).withDefaults()
		if err == nil || !strings.Contains(err.Error(), "Config.InsecureRegistries") {
			t.Errorf("InsecureRegistries %q: err %v, want a Config.InsecureRegistries error", h, err)
		}
	}
	c := &Cluster{cfg: Config{ControlPlaneOnly: true, RunDir: t.TempDir()}}
	if err := c.AddInsecureRegistry("127.0.0.1:5000"); err == nil {
		t.Error("AddInsecureRegistry on a ControlPlaneOnly cluster succeeded")
	}
}

// TestContainerdRegistryConfig checks the containerd configuration a
// cluster with InsecureRegistries writes: the CRI image plugin's
// config_path is the cluster's own hosts directory (as containerd itself
// reads the file, when its binary is cached), and each registry has a
// hosts.toml that sends pulls and tag resolution to http://<host>.
func TestContainerdRegistryConfig(t *testing.T) {
	regs := []string{"127.0.0.1:5000", "registry.example:8080"}
	cfg, err := Config{RunDir: t.TempDir(), InsecureRegistries: regs}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{cfg: cfg, ctrdSock: filepath.Join(cfg.RunDir, "containerd", "containerd.sock")}
	confPath, err := c.writeContainerdConfig(filepath.Join(cfg.RunDir, "cni", "net.d"))
	if err != nil {
		t.Fatal(err)
	}
	hostsDir := RegistryHostsDir(cfg.RunDir)
	var conf struct {
		Version int
		Plugins map[string]struct {
			Snapshotter string         `toml:"snapshotter"`
			Registry    map[string]any `toml:"registry"`
		}
	}
	if _, err := toml.DecodeFile(confPath, &conf); err != nil {
		t.Fatalf("config.toml does not parse: %v", err)
	}
	imgs, ok := conf.Plugins["io.containerd.cri.v1.images"]
	if conf.Version != 3 || !ok {
		t.Fatalf("config.toml: version %d, plugins %v; want version 3 with io.containerd.cri.v1.images", conf.Version, conf.Plugins)
	}
	if got := imgs.Registry["config_path"]; got != hostsDir {
		t.Errorf("[plugins.'io.containerd.cri.v1.images'.registry] config_path = %v, want %s", got, hostsDir)
	}
	if imgs.Snapshotter != "overlayfs" {
		t.Errorf("snapshotter %q: the images section lost its other settings", imgs.Snapshotter)
	}

	for _, h := range regs {
		var hosts struct {
			Server string
			Host   map[string]struct {
				Capabilities []string
				SkipVerify   bool `toml:"skip_verify"`
			}
		}
		p := filepath.Join(hostsDir, h, "hosts.toml")
		if _, err := toml.DecodeFile(p, &hosts); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		url := "http://" + h
		if hosts.Server != url {
			t.Errorf("%s: server %q, want %q", p, hosts.Server, url)
		}
		if len(hosts.Host) != 1 {
			t.Errorf("%s: hosts %v, want only %s", p, hosts.Host, url)
		}
		if caps := hosts.Host[url].Capabilities; !slices.Equal(caps, []string{"pull", "resolve"}) {
			t.Errorf("%s: [host.%q] capabilities %q, want pull and resolve", p, url, caps)
		}
	}
	ents, _ := os.ReadDir(hostsDir)
	if len(ents) != len(regs) {
		t.Errorf("%s holds %d entries, want one per registry (%d)", hostsDir, len(ents), len(regs))
	}

	// containerd's own reading of the file: a misspelt plugin or key would
	// leave its default (empty) config_path in the effective configuration.
	bins, err := BinaryCacheDir()
	if err != nil {
		t.Logf("no binary cache (%v): containerd's reading of config.toml not checked", err)
		return
	}
	m, _ := filepath.Glob(filepath.Join(bins, "containerd-v*"))
	if len(m) == 0 {
		t.Logf("containerd is not in %s (make k8s-bins): its reading of config.toml not checked", bins)
		return
	}
	out, err := exec.Command(m[len(m)-1], "--config", confPath, "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v: %s", err, out)
	}
	want := "[plugins.'io.containerd.cri.v1.images'.registry]\n      config_path = '" + hostsDir + "'"
	if !strings.Contains(string(out), want) {
		i := strings.Index(string(out), "[plugins.'io.containerd.cri.v1.images'.registry]")
		t.Errorf("containerd's effective configuration has no %q; around the registry section: %q", want, string(out)[max(i, 0):min(max(i, 0)+200, len(out))])
	}
}

// loopbackRegistry is an in-process registry on 127.0.0.1 that counts what
// the node's containerd fetches from it. One per test binary: node()
// starts the shared cluster with it in Config.InsecureRegistries.
type loopbackRegistry struct {
	srv  *httptest.Server
	host string

	mu    sync.Mutex
	pulls map[string]*repoPulls // by repository path, e.g. kvcsi/livenessprobe
}

// repoPulls counts containerd's GETs of one repository.
type repoPulls struct {
	Manifests, Blobs int
	Bytes            int64
}

var (
	testRegistryOnce sync.Once
	testReg          *loopbackRegistry
)

// testRegistry returns the binary's loopback registry, starting it on first
// use; it serves until the binary exits.
func testRegistry() *loopbackRegistry {
	testRegistryOnce.Do(func() {
		r := &loopbackRegistry{pulls: map[string]*repoPulls{}}
		r.srv = httptest.NewServer(r.wrap(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))))
		r.host = strings.TrimPrefix(r.srv.URL, "http://")
		testReg = r
	})
	return testReg
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// wrap counts the GETs of manifests and blobs that containerd makes (its
// User-Agent is containerd/<version>; the test's own pushes and checks use
// go-containerregistry's).
func (r *loopbackRegistry) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet || !strings.HasPrefix(req.UserAgent(), "containerd/") {
			h.ServeHTTP(w, req)
			return
		}
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, req)
		p := strings.TrimPrefix(req.URL.Path, "/v2/")
		kind := ""
		for _, k := range []string{"/manifests/", "/blobs/"} {
			if i := strings.LastIndex(p, k); i > 0 {
				p, kind = p[:i], k
				break
			}
		}
		if kind == "" {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		c := r.pulls[p]
		if c == nil {
			c = &repoPulls{}
			r.pulls[p] = c
		}
		if kind == "/manifests/" {
			c.Manifests++
		} else {
			c.Blobs++
		}
		c.Bytes += cw.n
	})
}

func (r *loopbackRegistry) pulled(repo string) repoPulls {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.pulls[repo]; c != nil {
		return *c
	}
	return repoPulls{}
}

// addonImages are the images of the add-on's driver and provider DaemonSets
// (kvcsi's own sidecars, the default).
var addonImages = []string{"secrets-store-csi-driver", "secrets-store-provider-azure", "csi-node-driver-registrar", "livenessprobe"}

// TestAddonFromLoopbackRegistry is the AKS path minus Azure: kvcsi's images
// are pushed as multi-arch indexes to a registry on loopback, the add-on is
// enabled with --image-registry pointing there, and the node's containerd
// (configured for that registry through Config.InsecureRegistries) pulls
// them: nothing is imported from tarballs. It checks that the DaemonSets
// become Ready, that containerd fetched manifests and blobs of every image
// from the registry, and that its image store and the pods' image IDs name
// the pushed index digests.
func TestAddonFromLoopbackRegistry(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a kubelet, containerd and runc, creates a bridge and mounts")
	}
	if testing.Short() {
		t.Skip("needs a local cluster (-short, as in make test-unit, runs without one)")
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Skipf("needs /etc/ssl/certs/ca-certificates.crt for the provider image (Debian ca-certificates; make deps): %v", err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // anonymous: no credentials of the host
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	reg := testRegistry()
	regPath := reg.host + "/kvcsi"
	// A tag of its own: no tarball any other test imports carries these
	// binaries, so containerd cannot have their layers already.
	const tag = "v0.0.0-from-registry"
	start := time.Now()
	pushed, err := images.Push(ctx, images.PushOptions{
		Options: images.Options{Version: tag, OutDir: filepath.Join(os.TempDir(), "kvcsi-localcluster-registry-images"),
			Only: addonImages, Logf: t.Logf},
		Registry: regPath, NoChart: true,
	})
	if err != nil {
		t.Fatalf("push to %s: %v", regPath, err)
	}
	if len(pushed) != len(addonImages) {
		t.Fatalf("pushed %v, want %d images", pushed, len(addonImages))
	}
	pushSeconds := time.Since(start).Seconds()
	// The build and push above need no cluster: only now wait for the host
	// lock (node starts the shared cluster with the registry configured).
	c := node(t)
	before, err := c.ctr(ctx, "images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pushed {
		if strings.Contains(string(before), p.Ref) {
			t.Fatalf("containerd holds %s before the add-on was enabled", p.Ref)
		}
		if pl := reg.pulled(strings.TrimPrefix(repoOf(p.Ref), reg.host+"/")); pl.Manifests+pl.Blobs != 0 {
			t.Fatalf("containerd fetched %s before the add-on was enabled: %+v", p.Ref, pl)
		}
	}

	m, err := addon.NewManager(c.RESTConfig(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ac := addon.DefaultConfig(tag)
	ac.ImageRegistry = regPath
	start = time.Now()
	if err := m.Enable(ctx, ac); err != nil {
		t.Fatalf("addon enable --image-registry %s: %v", regPath, err)
	}
	t.Cleanup(func() {
		// The CRDs stay: the cluster installed them and other tests share it.
		if err := m.Disable(context.Background(), addon.DisableOptions{KeepCRDs: true}); err != nil {
			t.Errorf("addon disable: %v", err)
		}
	})
	cs := clientset(t, c)
	imageIDs := map[string]string{} // image ref -> imageID, from the pods
	for _, ds := range []string{addon.DriverName, addon.ProviderName} {
		waitDaemonSetReady(t, cs, ds, imageIDs)
	}
	readySeconds := time.Since(start).Seconds()

	ls, err := c.ctr(ctx, "images", "ls")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, p := range pushed {
		repo := repoOf(p.Ref)
		pl := reg.pulled(strings.TrimPrefix(repo, reg.host+"/"))
		if pl.Manifests < 2 || pl.Blobs < 2 {
			// The index and the amd64 (or arm64) manifest; its config and at least one layer.
			t.Errorf("%s: containerd fetched %d manifests and %d blobs from the registry, want the index, a platform manifest, the config and layers", p.Ref, pl.Manifests, pl.Blobs)
		}
		total += pl.Bytes
		if !lsHas(string(ls), p.Ref, p.Digest) {
			t.Errorf("containerd's image store has no %s with the pushed index digest %s:\n%s", p.Ref, p.Digest, ls)
		}
		if id, ok := imageIDs[p.Ref]; !ok {
			t.Errorf("no add-on container runs %s (running: %v)", p.Ref, imageIDs)
		} else if id != repo+"@"+p.Digest {
			t.Errorf("container of %s has imageID %q, want %s@%s (the pushed index)", p.Ref, id, repo, p.Digest)
		}
		t.Logf("%s: %d manifest and %d blob GETs, %d bytes", p.Ref, pl.Manifests, pl.Blobs, pl.Bytes)
	}
	// The tarball path names images ghcr.io/kvcsi/<name>:<tag>.
	for _, n := range addonImages {
		if strings.Contains(string(ls), "ghcr.io/kvcsi/"+n+":"+tag) {
			t.Errorf("containerd holds ghcr.io/kvcsi/%s:%s: imported from a tarball, not pulled", n, tag)
		}
	}
	t.Logf("build and push %d multi-arch images: %.1f s; enable to both DaemonSets Ready (pulls included): %.1f s; %d bytes pulled by containerd",
		len(pushed), pushSeconds, readySeconds, total)

	checkHostsTOMLIsRead(t, c, cs, reg, pushed[len(pushed)-1])
}

// checkHostsTOMLIsRead shows that containerd pulls through the hosts.toml
// the cluster writes, not through its own defaults: those already reach a
// loopback registry over plain HTTP (containerd's localhost fallback), but
// any other host over HTTPS only. The same registry, served on the node's
// bridge address, fails to pull until AddInsecureRegistry names it, and
// pulls right after (containerd reads the directory at every pull).
func checkHostsTOMLIsRead(t *testing.T, c *Cluster, cs kubernetes.Interface, reg *loopbackRegistry, img images.Pushed) {
	t.Helper()
	ctx := context.Background()
	ln, err := net.Listen("tcp", net.JoinHostPort(c.NodeIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: reg.srv.Config.Handler}
	go srv.Serve(ln)
	defer srv.Close()
	host := ln.Addr().String()
	ref := host + strings.TrimPrefix(img.Ref, reg.host)
	ns := testNamespace(t, cs, "registry")
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: ptr(int64(0)),
				Containers:                    []corev1.Container{{Name: "main", Image: ref, ImagePullPolicy: corev1.PullAlways}},
			},
		}
	}
	status := func(name string) (corev1.ContainerStatus, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return corev1.ContainerStatus{}, err
		}
		if len(p.Status.ContainerStatuses) == 0 {
			return corev1.ContainerStatus{}, fmt.Errorf("no container status yet (phase %s)", p.Status.Phase)
		}
		return p.Status.ContainerStatuses[0], nil
	}

	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "pull of "+ref+" without a hosts.toml fails over HTTPS", func() error {
		s, err := status("before")
		if err != nil {
			return err
		}
		if s.ImageID != "" {
			t.Fatalf("%s was pulled before a hosts.toml named %s: containerd's defaults, not the cluster's file, reached it", ref, host)
		}
		w := s.State.Waiting
		if w == nil {
			return fmt.Errorf("container state %+v", s.State)
		}
		// ErrImagePull carries containerd's error; the back-off that
		// follows, only "Back-off pulling image".
		switch {
		case w.Reason == "ErrImagePull" && strings.Contains(w.Message, "https://"+host):
			t.Logf("without a hosts.toml: %s", w.Message)
			return nil
		case w.Reason == "ImagePullBackOff":
			return nil
		}
		return fmt.Errorf("container waiting: %s: %s", w.Reason, w.Message)
	})
	if err := c.AddInsecureRegistry(host); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("after"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The image ID is one of the image's repo digests (the loopback name
	// has the same content); the store entry is this name's own.
	eventually(t, 2*time.Minute, "pull of "+ref+" through its hosts.toml", func() error {
		s, err := status("after")
		if err != nil {
			return err
		}
		if !strings.HasSuffix(s.ImageID, "@"+img.Digest) {
			return fmt.Errorf("imageID %q (want the index %s), state %+v", s.ImageID, img.Digest, s.State)
		}
		return nil
	})
	ls, err := c.ctr(ctx, "images", "ls")
	if err != nil {
		t.Fatal(err)
	}
	if !lsHas(string(ls), ref, img.Digest) {
		t.Errorf("containerd's image store has no %s with the pushed index digest %s:\n%s", ref, img.Digest, ls)
	}
}

// repoOf is the repository of a tagged reference (host:port/path/name:tag).
func repoOf(ref string) string {
	i := strings.LastIndex(ref, ":")
	if i < strings.LastIndex(ref, "/") {
		return ref
	}
	return ref[:i]
}

// lsHas says whether `ctr images ls` output lists ref with target digest.
func lsHas(ls, ref, digest string) bool {
	for _, line := range strings.Split(ls, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == ref && f[2] == digest {
			return true
		}
	}
	return false
}

// waitDaemonSetReady waits until the DaemonSet kube-system/name has every
// pod Ready and records the image IDs its containers run.
func waitDaemonSetReady(t *testing.T, cs kubernetes.Interface, name string, imageIDs map[string]string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 6*time.Minute, "DaemonSet "+addon.Namespace+"/"+name+" Ready", func() error {
		ds, err := cs.AppsV1().DaemonSets(addon.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods(addon.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return err
		}
		st := ds.Status
		if st.DesiredNumberScheduled < 1 || st.NumberReady != st.DesiredNumberScheduled || st.UpdatedNumberScheduled != st.DesiredNumberScheduled {
			var b bytes.Buffer
			for _, p := range pods.Items {
				fmt.Fprintf(&b, " pod %s %s:", p.Name, p.Status.Phase)
				for _, s := range p.Status.ContainerStatuses {
					fmt.Fprintf(&b, " %s ready=%v", s.Name, s.Ready)
					if s.State.Waiting != nil {
						fmt.Fprintf(&b, " waiting %s: %s", s.State.Waiting.Reason, s.State.Waiting.Message)
					}
				}
			}
			return fmt.Errorf("desired %d, ready %d, updated %d;%s", st.DesiredNumberScheduled, st.NumberReady, st.UpdatedNumberScheduled, b.String())
		}
		for _, p := range pods.Items {
			for _, s := range p.Status.ContainerStatuses {
				imageIDs[s.Image] = s.ImageID
			}
		}
		return nil
	})
}
