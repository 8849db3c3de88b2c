// Package kindnode builds a kind node image offline: a Debian root filesystem
// (mmdebstrap from Debian's archive), the Kubernetes binaries the project
// builds from the Go module proxy (localcluster's cache), and image archives
// for everything kubeadm and kind start, assembled into a docker-archive that
// `podman load` imports. Nothing is pulled from an image registry.
//
// The image meets kind's node-image contract (docs/kind.md): systemd as init
// behind an entrypoint that prepares the container, containerd + runc + CNI
// plugins + crictl, kubeadm/kubelet/kubectl on PATH with kubeadm's kubelet
// unit, /kind/version, /kind/manifests/default-{cni,storage}.yaml and the
// images under /kind/images (imported into containerd at first boot).
package kindnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/images"
	"github.com/kvcsi/kvcsi/localcluster"
)

// Versions and references.
const (
	KubernetesVersion = localcluster.KubernetesVersion
	// Repository names the node image in podman; the tag is
	// <KubernetesVersion>-<content hash>.
	Repository = "localhost/kvcsi/kind-node"
	// Suite is the Debian release the root filesystems come from.
	Suite = "bookworm"

	pauseRef   = images.PauseRef
	kindnetRef = "localhost/kvcsi/kindnet:" + KubernetesVersion
	corednsTag = localcluster.CoreDNSVersion
	etcdTag    = "3.7.0-0"
)

// NodePackages are the Debian packages of the node's root filesystem.
var NodePackages = []string{
	"bash", "ca-certificates", "conntrack", "containernetworking-plugins", "coreutils", "dbus",
	"e2fsprogs", "ebtables", "ethtool", "findutils", "fuse-overlayfs", "grep", "gzip", "hostname", "iproute2",
	"ipset", "iptables", "kmod", "libcap2-bin", "libseccomp2", "libsystemd0", "lsof", "mount",
	"ncat", "nftables", "pigz", "procps", "runc", "sed", "socat", "systemd", "systemd-sysv", "tar", "util-linux",
}

// BasePackages are the Debian packages of the base layer of the kube-proxy
// and kindnet images (iptables, ip, conntrack, as their upstream images).
var BasePackages = []string{"bash", "ca-certificates", "conntrack", "iproute2", "ipset", "iptables", "kmod", "nftables"}

// Options says where to build.
type Options struct {
	// CacheDir holds the root filesystems, layers and archives, by content:
	// default ${XDG_CACHE_HOME:-~/.cache}/kvcsi/kind.
	CacheDir string
	// Log receives progress; default discarded.
	Log *slog.Logger
	// Binaries, when set, maps each component (kubeadm, kubelet, kubectl,
	// kube-proxy, kube-apiserver, kube-controller-manager, kube-scheduler,
	// etcd, containerd, containerd-shim-runc-v2, ctr, crictl, coredns) to its
	// executable instead of localcluster's cache (tests).
	Binaries map[string]string
	// NodeRootfs and BaseRootfs, when set, are root filesystem tars used
	// instead of running mmdebstrap (tests).
	NodeRootfs, BaseRootfs string
	// PauseArchive, when set, is the pause image archive (tests); default
	// built by the images package.
	PauseArchive string
}

// Result is a built node image.
type Result struct {
	Ref     string // localhost/kvcsi/kind-node:<version>-<hash>
	Archive string // docker-archive path
	Cached  bool   // the archive existed already
	// Images are the references under /kind/images.
	Images []string
	// Missing lists images kubeadm or kind would start that the node does not
	// carry (their pods stay in ImagePullBackOff).
	Missing []string
}

// DefaultCacheDir is ${XDG_CACHE_HOME:-~/.cache}/kvcsi/kind.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "kvcsi", "kind"), nil
}

type builder struct {
	o   Options
	log *slog.Logger
}

// Build builds the node image archive (or finds it in the cache).
func Build(ctx context.Context, o Options) (Result, error) {
	if o.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return Result{}, err
		}
		o.CacheDir = d
	}
	b := &builder{o: o, log: o.Log}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"rootfs", "layers", "images", "node"} {
		if err := os.MkdirAll(filepath.Join(o.CacheDir, d), 0o755); err != nil {
			return Result{}, err
		}
	}
	bins, err := b.binaries(ctx)
	if err != nil {
		return Result{}, err
	}
	nodeRootfs, err := b.rootfs(ctx, "node", NodePackages, o.NodeRootfs)
	if err != nil {
		return Result{}, err
	}
	baseRootfs, err := b.rootfs(ctx, "base", BasePackages, o.BaseRootfs)
	if err != nil {
		return Result{}, err
	}
	pause, err := b.pause(ctx)
	if err != nil {
		return Result{}, err
	}
	// A warm build: the same inputs as an earlier one name its archive.
	key, err := inputsKey(bins, nodeRootfs, baseRootfs, pause)
	if err != nil {
		return Result{}, err
	}
	stamp := filepath.Join(o.CacheDir, "node", "inputs-"+key+".json")
	if data, err := os.ReadFile(stamp); err == nil {
		var res Result
		if json.Unmarshal(data, &res) == nil && res.Archive != "" {
			if _, err := os.Stat(res.Archive); err == nil {
				res.Cached = true
				return res, nil
			}
		}
	}
	imgs, missing, err := b.componentImages(ctx, bins, baseRootfs, pause)
	if err != nil {
		return Result{}, err
	}
	entries := nodeEntries(bins, imgs)
	overlay := filepath.Join(o.CacheDir, "layers", "node-overlay.tar")
	overlayID, err := writeLayer(overlay, entries)
	if err != nil {
		return Result{}, fmt.Errorf("write the node overlay layer: %w", err)
	}
	rootID, err := b.diffID(nodeRootfs)
	if err != nil {
		return Result{}, err
	}
	sum := sha256.Sum256([]byte(rootID + overlayID))
	tag := KubernetesVersion + "-" + hex.EncodeToString(sum[:])[:12]
	res := Result{
		Ref:     Repository + ":" + tag,
		Archive: filepath.Join(o.CacheDir, "node", "kind-node-"+tag+".tar"),
		Missing: missing,
	}
	for _, im := range imgs {
		res.Images = append(res.Images, im.refs...)
	}
	if _, err := os.Stat(res.Archive); err == nil {
		res.Cached = true
		return res, writeStamp(stamp, res)
	}
	start := time.Now()
	_, err = writeArchive(res.Archive, []string{res.Ref}, []layerFile{{nodeRootfs, rootID}, {overlay, overlayID}}, containerConfig{
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container=docker"},
		Entrypoint: []string{"/usr/local/bin/entrypoint", "/sbin/init"},
		StopSignal: "SIGRTMIN+3",
		Labels:     map[string]string{"org.opencontainers.image.description": "kvcsi offline kind node image (Kubernetes " + KubernetesVersion + ")"},
	})
	if err != nil {
		return Result{}, fmt.Errorf("write the node image archive: %w", err)
	}
	// The archive holds the node layer; a later build writes it anew.
	os.Remove(overlay)
	if err := writeStamp(stamp, res); err != nil {
		return Result{}, err
	}
	prune(filepath.Dir(res.Archive), res.Archive, stamp)
	b.log.Info("wrote the node image archive", "ref", res.Ref, "archive", res.Archive, "seconds", time.Since(start).Round(time.Second).Seconds())
	return res, nil
}

// inputsKey identifies a build's inputs without reading the large files: each
// binary's and root filesystem's path, size and mtime, and the content of
// every file the node image writes from this package.
func inputsKey(bins map[string]string, paths ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "kindnode v1 %s %s %s\n", KubernetesVersion, pauseRef, kindnetRef)
	names := make([]string, 0, len(bins))
	for n := range bins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		paths = append(paths, n+"="+bins[n])
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		_, f, _ := strings.Cut(p, "=")
		if f == "" {
			f = p
		}
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
	}
	for _, e := range nodeEntries(map[string]string{}, nil) {
		fmt.Fprintf(h, "%s %o %s %s\n", e.name, e.mode, e.link, e.data)
	}
	fmt.Fprintf(h, "%s\n%s\n%s\n", kindnetScript, strings.Join(NodePackages, ","), strings.Join(BasePackages, ","))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func writeStamp(path string, r Result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// diffID is a layer file's sha256, cached next to it (<file>.sha256) since
// the root filesystems never change once written.
func (b *builder) diffID(p string) (string, error) {
	if s, err := os.ReadFile(p + ".sha256"); err == nil {
		if fi, err2 := os.Stat(p); err2 == nil {
			if fs, err3 := os.Stat(p + ".sha256"); err3 == nil && !fs.ModTime().Before(fi.ModTime()) {
				return strings.TrimSpace(string(s)), nil
			}
		}
	}
	id, err := fileSHA256(p)
	if err != nil {
		return "", err
	}
	_ = os.WriteFile(p+".sha256", []byte(id+"\n"), 0o644)
	return id, nil
}

// binaries finds or builds every binary the node and its images carry.
func (b *builder) binaries(ctx context.Context) (map[string]string, error) {
	if b.o.Binaries != nil {
		return b.o.Binaries, nil
	}
	out := map[string]string{}
	core, err := localcluster.EnsureBinaries(ctx, "", b.log)
	if err != nil {
		return nil, err
	}
	for k, v := range core {
		out[k] = v
	}
	extra, err := localcluster.EnsureKindBinaries(ctx, b.log)
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		out[k] = v
	}
	return out, nil
}

// rootfs returns a Debian root filesystem tar with pkgs, made by mmdebstrap
// once and kept in the cache under a name derived from the package list.
func (b *builder) rootfs(ctx context.Context, name string, pkgs []string, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	sorted := append([]string(nil), pkgs...)
	sort.Strings(sorted)
	sum := sha256.Sum256([]byte(Suite + " minbase " + strings.Join(sorted, ",")))
	dst := filepath.Join(b.o.CacheDir, "rootfs", name+"-"+Suite+"-"+hex.EncodeToString(sum[:])[:12]+".tar")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "", errors.New("mmdebstrap is not installed: apt-get install mmdebstrap (make kind-deps)")
	}
	tmp := dst + ".tmp"
	args := []string{"--variant=minbase", "--mode=root", "--format=tar", "--include=" + strings.Join(sorted, ","),
		"--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*",
		Suite, tmp}
	start := time.Now()
	b.log.Info("building a Debian root filesystem with mmdebstrap (a few minutes)", "name", name, "packages", len(sorted))
	cmd := exec.CommandContext(ctx, "mmdebstrap", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("mmdebstrap %s: %w\n%s", name, err, tail(out, 3000))
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	b.log.Info("built a Debian root filesystem", "name", name, "path", dst, "seconds", time.Since(start).Round(time.Second).Seconds())
	return dst, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// builtImage is one image archive for /kind/images.
type builtImage struct {
	file string   // name under /kind/images
	path string   // archive on disk
	refs []string // the references it is tagged with
}

// componentImages builds the archives of every image kubeadm and kind start.
func (b *builder) componentImages(ctx context.Context, bins map[string]string, baseRootfs, pause string) ([]builtImage, []string, error) {
	dir := filepath.Join(b.o.CacheDir, "images")
	var out []builtImage
	var missing []string
	path := []string{"PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"}
	single := func(name, ref, bin, at string) error {
		src, ok := bins[bin]
		if !ok {
			return fmt.Errorf("no %s binary", bin)
		}
		lp := filepath.Join(b.o.CacheDir, "layers", name+".tar")
		id, err := writeLayer(lp, []entry{copyOf(at, 0o755, src), {name: "/tmp", mode: 0o1777, dir: true}, file("/etc/nsswitch.conf", 0o644, "hosts: files dns\n")})
		if err != nil {
			return err
		}
		ap := filepath.Join(dir, name+".tar")
		if _, err := writeArchive(ap, []string{ref}, []layerFile{{lp, id}}, containerConfig{Env: path, Entrypoint: []string{at}}); err != nil {
			return err
		}
		out = append(out, builtImage{name + ".tar", ap, []string{ref}})
		return nil
	}
	for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if err := single(c, "registry.k8s.io/"+c+":"+KubernetesVersion, c, "/usr/local/bin/"+c); err != nil {
			return nil, nil, err
		}
	}
	if err := single("etcd", "registry.k8s.io/etcd:"+etcdTag, "etcd", "/usr/local/bin/etcd"); err != nil {
		return nil, nil, err
	}
	if err := single("coredns", "registry.k8s.io/coredns/coredns:"+corednsTag, "coredns", "/coredns"); err != nil {
		return nil, nil, err
	}
	baseID, err := b.diffID(baseRootfs)
	if err != nil {
		return nil, nil, err
	}
	onBase := func(name, ref string, entries []entry, entrypoint []string) error {
		lp := filepath.Join(b.o.CacheDir, "layers", name+".tar")
		id, err := writeLayer(lp, entries)
		if err != nil {
			return err
		}
		ap := filepath.Join(dir, name+".tar")
		if _, err := writeArchive(ap, []string{ref}, []layerFile{{baseRootfs, baseID}, {lp, id}}, containerConfig{Env: path, Entrypoint: entrypoint}); err != nil {
			return err
		}
		out = append(out, builtImage{name + ".tar", ap, []string{ref}})
		return nil
	}
	if err := onBase("kube-proxy", "registry.k8s.io/kube-proxy:"+KubernetesVersion,
		[]entry{copyOf("/usr/local/bin/kube-proxy", 0o755, bins["kube-proxy"])}, []string{"/usr/local/bin/kube-proxy"}); err != nil {
		return nil, nil, err
	}
	if err := onBase("kindnet", kindnetRef,
		[]entry{copyOf("/usr/local/bin/kubectl", 0o755, bins["kubectl"]), file("/usr/local/bin/kvcsi-kindnet", 0o755, kindnetScript)},
		[]string{"/usr/local/bin/kvcsi-kindnet"}); err != nil {
		return nil, nil, err
	}
	out = append(out, builtImage{"pause.tar", pause, []string{pauseRef}})
	missing = append(missing, "docker.io/kindest/local-path-provisioner (substitute: a StorageClass without a provisioner)")
	return out, missing, nil
}

// pauseVersion stamps the pause image built for the node (its label only;
// the reference is always images.PauseRef), so the node image does not
// depend on the version of the binary that builds it.
const pauseVersion = "kind-node"

// pause returns the pause image archive: the images package's, built into
// this cache (never into the project's _output/images).
func (b *builder) pause(ctx context.Context) (string, error) {
	if b.o.PauseArchive != "" {
		return b.o.PauseArchive, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	built, err := images.Build(ctx, images.Options{Only: []string{"pause"}, Version: pauseVersion, RepoRoot: root, OutDir: filepath.Join(b.o.CacheDir, "pause")})
	if err != nil {
		return "", fmt.Errorf("build the pause image: %w", err)
	}
	return built[0].Path, nil
}

// repoRoot is the kvcsi checkout above the working directory.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(data), "module github.com/kvcsi/kvcsi\n") {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("no kvcsi checkout above the working directory")
		}
		d = p
	}
}

// maskedUnits are the systemd units the node image masks.
var maskedUnits = []string{"console-getty.service", "getty.target", "apt-daily.timer", "apt-daily-upgrade.timer",
	"e2scrub_all.timer", "dpkg-db-backup.timer", "systemd-tmpfiles-clean.timer"}

// nodeEntries is the node's layer on top of the Debian root filesystem.
func nodeEntries(bins map[string]string, imgs []builtImage) []entry {
	es := []entry{
		file("/usr/local/bin/entrypoint", 0o755, entrypoint),
		copyOf("/usr/bin/kubeadm", 0o755, bins["kubeadm"]),
		copyOf("/usr/bin/kubelet", 0o755, bins["kubelet"]),
		copyOf("/usr/bin/kubectl", 0o755, bins["kubectl"]),
		copyOf("/usr/local/bin/containerd", 0o755, bins["containerd"]),
		copyOf("/usr/local/bin/containerd-shim-runc-v2", 0o755, bins["containerd-shim-runc-v2"]),
		copyOf("/usr/local/bin/ctr", 0o755, bins["ctr"]),
		copyOf("/usr/local/bin/crictl", 0o755, bins["crictl"]),
		file("/etc/containerd/config.toml", 0o644, containerdConfig),
		file("/etc/crictl.yaml", 0o644, crictlConfig),
		file("/etc/systemd/system/containerd.service", 0o644, containerdUnit),
		file("/etc/systemd/system/kubelet.service", 0o644, kubeletUnit),
		file("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", 0o644, kubeadmDropIn),
		file("/etc/systemd/system/kvcsi-import-images.service", 0o644, importImagesUnit),
		file("/etc/default/kubelet", 0o644, kubeletDefaults),
		file("/kind/version", 0o644, KubernetesVersion+"\n"),
		file("/kind/manifests/default-cni.yaml", 0o644, defaultCNI),
		file("/kind/manifests/default-storage.yaml", 0o644, defaultStorage),
		dir("/etc/cni/net.d"),
		dir("/opt/cni/bin"),
		dir("/var/lib/kubelet"),
		dir("/etc/kubernetes/manifests"),
	}
	for _, u := range []string{"containerd", "kubelet", "kvcsi-import-images"} {
		es = append(es, symlink("/etc/systemd/system/multi-user.target.wants/"+u+".service", "/etc/systemd/system/"+u+".service"))
	}
	// Units a node does not need: logins on the console kind's --tty gives,
	// Debian's periodic maintenance.
	for _, u := range maskedUnits {
		es = append(es, symlink("/etc/systemd/system/"+u, "/dev/null"))
	}
	for _, im := range imgs {
		es = append(es, copyOf("/kind/images/"+im.file, 0o644, im.path))
	}
	return es
}

// Load imports the archive into podman unless podman has the reference, and
// removes podman's other node images of Repository that no container uses.
func Load(ctx context.Context, r Result) (loaded bool, err error) {
	if exec.CommandContext(ctx, "podman", "image", "exists", r.Ref).Run() != nil {
		out, err := exec.CommandContext(ctx, "podman", "load", "-i", r.Archive).CombinedOutput()
		if err != nil {
			return false, fmt.Errorf("podman load -i %s: %w\n%s", r.Archive, err, out)
		}
		loaded = true
	}
	out, err := exec.CommandContext(ctx, "podman", "images", "--filter", "reference="+Repository, "--format", "{{.Repository}}:{{.Tag}}").Output()
	if err == nil {
		for _, ref := range strings.Fields(string(out)) {
			if ref != r.Ref && strings.HasPrefix(ref, Repository+":") {
				// In use by a cluster's node: podman refuses, and it stays.
				_ = exec.CommandContext(ctx, "podman", "rmi", ref).Run()
			}
		}
	}
	return loaded, nil
}

// prune removes the cache's node archives and stamps other than keep's.
func prune(dir, keepArchive, keepStamp string) {
	for _, pat := range []string{"kind-node-*.tar", "inputs-*.json"} {
		old, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range old {
			if p != keepArchive && p != keepStamp {
				os.Remove(p)
			}
		}
	}
}
