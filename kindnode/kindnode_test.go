package kindnode

import (
	"archive/tar"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// fakeInputs writes stand-ins for every binary, the two root filesystems and
// the pause archive, so Build runs without mmdebstrap or a Go build.
func fakeInputs(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	bins := map[string]string{}
	for _, b := range []string{"kubeadm", "kubelet", "kubectl", "kube-proxy", "kube-apiserver", "kube-controller-manager",
		"kube-scheduler", "etcd", "containerd", "containerd-shim-runc-v2", "ctr", "crictl", "coredns"} {
		p := filepath.Join(dir, b)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho "+b+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		bins[b] = p
	}
	rootfs := func(n string, files ...string) string {
		var es []entry
		for _, f := range files {
			es = append(es, file(f, 0o644, n))
		}
		p := filepath.Join(dir, n+".tar")
		if _, err := writeLayer(p, es); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lp := filepath.Join(dir, "pause-layer.tar")
	id, err := writeLayer(lp, []entry{file("/pause", 0o755, "pause")})
	if err != nil {
		t.Fatal(err)
	}
	pause := filepath.Join(dir, "pause.tar")
	if _, err := writeArchive(pause, []string{pauseRef}, []layerFile{{lp, id}}, containerConfig{Entrypoint: []string{"/pause"}}); err != nil {
		t.Fatal(err)
	}
	return Options{
		CacheDir:     filepath.Join(dir, "cache"),
		Binaries:     bins,
		NodeRootfs:   rootfs("node", "/usr/sbin/init", "/usr/sbin/runc"),
		BaseRootfs:   rootfs("base", "/usr/sbin/iptables"),
		PauseArchive: pause,
	}
}

// tarFiles maps each regular file, dir and symlink of a tar to its header and
// (for files) content.
func tarFiles(t *testing.T, r io.Reader) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		n := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		hdrs[n] = h
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			data[n] = b
		}
	}
}

// TestNodeImageLayout: the node image archive is a docker-archive that an
// independent reader (go-containerregistry) loads, with kind's entrypoint
// contract (ENTRYPOINT entrypoint + /sbin/init, STOPSIGNAL SIGRTMIN+3), the
// Debian root filesystem as its first layer, and the files kind reads and
// runs in its second: kubeadm/kubelet/kubectl, containerd, crictl, the
// kubelet unit with kubeadm's drop-in, /kind/version, the CNI and storage
// manifests, and an image archive for every image kubeadm starts.
func TestNodeImageLayout(t *testing.T) {
	o := fakeInputs(t)
	res, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Ref, Repository+":"+KubernetesVersion+"-") {
		t.Errorf("ref %q, want %s:%s-<hash>", res.Ref, Repository, KubernetesVersion)
	}
	tag, err := name.NewTag(res.Ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(res.Archive, &tag)
	if err != nil {
		t.Fatalf("go-containerregistry cannot read %s: %v", res.Archive, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/usr/local/bin/entrypoint", "/sbin/init"}; !slices.Equal(cf.Config.Entrypoint, want) {
		t.Errorf("entrypoint %v, want %v", cf.Config.Entrypoint, want)
	}
	if cf.Config.StopSignal != "SIGRTMIN+3" {
		t.Errorf("stop signal %q, want SIGRTMIN+3", cf.Config.StopSignal)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("%d layers, want 2 (root filesystem, node files)", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := tarFiles(t, rc)
	rc.Close()
	if root["/usr/sbin/init"] == nil {
		t.Errorf("first layer is not the root filesystem: %v", keys(root))
	}
	rc, err = layers[1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := tarFiles(t, rc)
	rc.Close()
	for p, mode := range map[string]int64{
		"/usr/local/bin/entrypoint":                             0o755,
		"/usr/bin/kubeadm":                                      0o755,
		"/usr/bin/kubelet":                                      0o755,
		"/usr/bin/kubectl":                                      0o755,
		"/usr/local/bin/containerd":                             0o755,
		"/usr/local/bin/containerd-shim-runc-v2":                0o755,
		"/usr/local/bin/ctr":                                    0o755,
		"/usr/local/bin/crictl":                                 0o755,
		"/etc/containerd/config.toml":                           0o644,
		"/etc/systemd/system/kubelet.service":                   0o644,
		"/etc/systemd/system/containerd.service":                0o644,
		"/kind/version":                                         0o644,
		"/kind/manifests/default-cni.yaml":                      0o644,
		"/kind/manifests/default-storage.yaml":                  0o644,
		"/etc/systemd/system/kubelet.service.d/10-kubeadm.conf": 0o644,
	} {
		h := hdrs[p]
		if h == nil {
			t.Errorf("%s missing", p)
			continue
		}
		if h.Mode&0o7777 != mode {
			t.Errorf("%s mode %o, want %o", p, h.Mode, mode)
		}
	}
	if got := string(data["/usr/bin/kubeadm"]); !strings.Contains(got, "echo kubeadm") {
		t.Errorf("/usr/bin/kubeadm is not the kubeadm binary given: %q", got)
	}
	if got := strings.TrimSpace(string(data["/kind/version"])); got != KubernetesVersion {
		t.Errorf("/kind/version %q, want %s", got, KubernetesVersion)
	}
	if !strings.HasPrefix(string(data["/usr/local/bin/entrypoint"]), "#!/bin/bash") || !strings.Contains(string(data["/usr/local/bin/entrypoint"]), `exec "$@"`) {
		t.Error("the entrypoint does not exec its arguments (systemd)")
	}
	cni := string(data["/kind/manifests/default-cni.yaml"])
	for _, s := range []string{"would you kindly template this file", "would you kindly patch this file", "{{ .PodSubnet }}", kindnetRef} {
		if !strings.Contains(cni, s) {
			t.Errorf("default-cni.yaml lacks %q", s)
		}
	}
	if !strings.Contains(string(data["/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"]), "kubeadm-flags.env") {
		t.Error("the kubeadm drop-in does not read kubeadm-flags.env")
	}
	if !strings.Contains(string(data["/etc/containerd/config.toml"]), "SystemdCgroup = true") {
		t.Error("containerd does not use the systemd cgroup driver kind's kubelet uses")
	}
	for _, u := range []string{"containerd", "kubelet", "kvcsi-import-images"} {
		h := hdrs["/etc/systemd/system/multi-user.target.wants/"+u+".service"]
		if h == nil || h.Typeflag != tar.TypeSymlink {
			t.Errorf("%s.service is not enabled", u)
		}
	}
	// Every image kubeadm starts (`kubeadm config images list` for
	// KubernetesVersion) and kindnet, each
	// an archive tagged with the reference the manifests name.
	want := []string{
		"registry.k8s.io/kube-apiserver:" + KubernetesVersion,
		"registry.k8s.io/kube-controller-manager:" + KubernetesVersion,
		"registry.k8s.io/kube-scheduler:" + KubernetesVersion,
		"registry.k8s.io/kube-proxy:" + KubernetesVersion,
		"registry.k8s.io/etcd:" + etcdTag,
		"registry.k8s.io/coredns/coredns:" + corednsTag,
		pauseRef,
		kindnetRef,
	}
	var got []string
	for p, b := range data {
		if !strings.HasPrefix(p, "/kind/images/") {
			continue
		}
		ih, idata := tarFiles(t, strings.NewReader(string(b)))
		var m []struct{ RepoTags []string }
		if err := json.Unmarshal(idata["/manifest.json"], &m); err != nil || len(m) != 1 {
			t.Errorf("%s: no docker-archive manifest: %v (%v)", p, err, keys(ih))
			continue
		}
		got = append(got, m[0].RepoTags...)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("/kind/images lacks %s (has %v)", w, got)
		}
	}
	if len(res.Missing) != 1 || !strings.Contains(res.Missing[0], "local-path-provisioner") {
		t.Errorf("Missing %v, want only local-path-provisioner", res.Missing)
	}

	// A second build with the same inputs finds the archive in the cache and
	// names the same image.
	again, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached || again.Ref != res.Ref {
		t.Errorf("second build: cached %v ref %s, want cached and %s", again.Cached, again.Ref, res.Ref)
	}

	// A changed binary makes a new image.
	if err := os.WriteFile(o.Binaries["kubeadm"], []byte("#!/bin/sh\necho kubeadm, rebuilt\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	changed, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Cached || changed.Ref == res.Ref {
		t.Errorf("after kubeadm changed: cached %v ref %s, want a new image (not %s)", changed.Cached, changed.Ref, res.Ref)
	}
}

// TestKubeProxyImageHasIptables: kube-proxy runs on the Debian base layer
// (iptables) with its binary on top, as its upstream image.
func TestKubeProxyImageHasIptables(t *testing.T) {
	o := fakeInputs(t)
	if _, err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	ref := "registry.k8s.io/kube-proxy:" + KubernetesVersion
	tag, _ := name.NewTag(ref)
	img, err := tarball.ImageFromPath(filepath.Join(o.CacheDir, "images", "kube-proxy.tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	all := map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := tarFiles(t, rc)
		rc.Close()
		for k, v := range h {
			all[k] = v
		}
	}
	for _, p := range []string{"/usr/sbin/iptables", "/usr/local/bin/kube-proxy"} {
		if all[p] == nil {
			t.Errorf("kube-proxy image lacks %s", p)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
