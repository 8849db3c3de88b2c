package localcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kvcsi/kvcsi/images"
)

// runcPath and cniBinDir are where Debian's runc and containernetworking-plugins
// install (hack/apt-packages.txt).
const (
	runcPath  = "/usr/sbin/runc"
	cniBinDir = "/usr/lib/cni"
)

// containerdConfig is containerd v2's configuration (version 3) with every
// path under RunDir. restrict_oom_score_adj is needed where root lacks
// CAP_SYS_RESOURCE (every sandbox fails otherwise); netns mounts go under the
// state dir so a cleanup finds them. The registry config_path is
// RegistryHostsDir (registry.go), never the host's /etc/containerd/certs.d.
const containerdConfig = `version = 3
root = %[1]q
state = %[2]q

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[debug]
  address = ""

[metrics]
  address = ""

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true

  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'

    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'

      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %[5]q
        SystemdCgroup = false

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[6]q]
    conf_dir = %[7]q
    max_conf_num = 1

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'

  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[8]q

  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = %[9]q

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
`

func (c *Cluster) containerdDir() string { return filepath.Join(c.cfg.RunDir, "containerd") }

// startContainerd writes the CNI and containerd configuration and runs
// containerd until its API answers.
func (c *Cluster) startContainerd(ctx context.Context) error {
	for _, p := range []string{runcPath, filepath.Join(cniBinDir, "bridge"), filepath.Join(cniBinDir, "host-local"), filepath.Join(cniBinDir, "loopback")} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s is missing: install the Debian packages runc and containernetworking-plugins (make deps)", p)
		}
	}
	dir := c.containerdDir()
	cniConf := filepath.Join(c.cfg.RunDir, "cni", "net.d")
	for _, d := range []string{dir, cniConf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := c.writeCNIConfig(cniConf); err != nil {
		return err
	}
	c.ctrdSock = filepath.Join(dir, "containerd.sock")
	confPath, err := c.writeContainerdConfig(cniConf)
	if err != nil {
		return err
	}
	// The shim is found on PATH, next to containerd.
	env := []string{"PATH=" + filepath.Dir(c.bins["containerd-shim-runc-v2"]) + ":" + shimPathDir(c.cfg.RunDir) + ":" + os.Getenv("PATH")}
	if err := linkShim(c.cfg.RunDir, c.bins["containerd-shim-runc-v2"]); err != nil {
		return err
	}
	p, err := c.startProcess("containerd", c.bins["containerd"], []string{"--config", confPath, "--log-level", "warn"}, env)
	if err != nil {
		return err
	}
	return c.poll(ctx, "containerd", p, 60*time.Second, func() error {
		_, err := c.ctr(ctx, "version")
		return err
	})
}

// writeContainerdConfig writes containerd's config.toml and the registry
// hosts directory it points at (a hosts.toml per Config.InsecureRegistries)
// and returns the config's path.
func (c *Cluster) writeContainerdConfig(cniConf string) (string, error) {
	dir := c.containerdDir()
	hostsDir := RegistryHostsDir(c.cfg.RunDir)
	if err := os.MkdirAll(hostsDir, 0o755); err != nil {
		return "", err
	}
	for _, h := range c.cfg.InsecureRegistries {
		if err := writeInsecureRegistry(hostsDir, h); err != nil {
			return "", err
		}
	}
	conf := fmt.Sprintf(containerdConfig,
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.ctrdSock, filepath.Join(dir, "containerd.sock.ttrpc"),
		runcPath, cniBinDir, cniConf, images.PauseRef, hostsDir)
	confPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", err
	}
	return confPath, nil
}

// shimPathDir holds containerd-shim-runc-v2 under its plain name: containerd
// looks the shim up by that name, and the cache names it with a version.
func shimPathDir(runDir string) string { return filepath.Join(runDir, "bin") }

func linkShim(runDir, shim string) error {
	d := shimPathDir(runDir)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	link := filepath.Join(d, "containerd-shim-runc-v2")
	os.Remove(link)
	return os.Symlink(shim, link)
}

// writeCNIConfig writes a bridge network on BridgeName whose gateway is the
// node IP; host-local keeps its leases under RunDir.
func (c *Cluster) writeCNIConfig(dir string) error {
	ip := net.ParseIP(c.cfg.NodeIP).To4()
	n := podNet(ip)
	start := append(net.IP(nil), n.IP...)
	start[3] = 16
	if ip[3] >= 16 {
		start[3] = ip[3] + 1
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kvcsi",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      BridgeName,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": filepath.Join(c.cfg.RunDir, "cni", "ipam"),
					"ranges": []any{[]any{map[string]any{
						"subnet": n.String(), "rangeStart": start.String(), "gateway": c.cfg.NodeIP,
					}}},
					"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "10-kvcsi.conflist"), b, 0o644)
}

// ctr runs containerd's ctr against this cluster's containerd in the
// Kubernetes (k8s.io) namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) ([]byte, error) {
	all := append([]string{"--address", c.ctrdSock, "--namespace", "k8s.io"}, args...)
	cmd := exec.CommandContext(ctx, c.bins["ctr"], all...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(lastLines(out, 5)))
	}
	return out, nil
}

// LoadImages imports docker-archive or OCI tarballs (as package images
// builds them) into containerd's k8s.io namespace, where the kubelet finds
// them; pods then run them with imagePullPolicy IfNotPresent or Never.
func (c *Cluster) LoadImages(ctx context.Context, tarballs ...string) error {
	if c.cfg.ControlPlaneOnly {
		return fmt.Errorf("LoadImages: a ControlPlaneOnly cluster has no node to load images into")
	}
	for _, t := range tarballs {
		if _, err := os.Stat(t); err != nil {
			return fmt.Errorf("LoadImages: image tarball: %w", err)
		}
		if _, err := c.ctr(ctx, "images", "import", "--snapshotter", "overlayfs", t); err != nil {
			return fmt.Errorf("LoadImages: import %s: %w", t, err)
		}
	}
	return nil
}

// loadPauseImage builds (or reuses) the pause image with package images
// and imports it: it is the sandbox image of every pod.
func (c *Cluster) loadPauseImage(ctx context.Context) error {
	opts := images.Options{Only: []string{"pause"}, Logf: func(f string, a ...any) { c.cfg.Logger.Debug(fmt.Sprintf(f, a...)) }}
	if out := os.Getenv("KVCSI_IMAGES_DIR"); out != "" {
		opts.OutDir = out
	}
	imgs, err := images.Build(ctx, opts)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if err := c.LoadImages(ctx, img.Path); err != nil {
			return err
		}
	}
	return nil
}

// kubeletConfig is the KubeletConfiguration. The settings this kind of host
// needs: failCgroupV1 false (cgroup v1 host), cgroupfs, failSwapOn false. The
// image GC thresholds keep loaded images, which cannot be pulled again.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %[2]s
authorization:
  mode: AlwaysAllow
tlsCertFile: %[3]s
tlsPrivateKeyFile: %[4]s
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%[5]s
resolvConf: %[6]s
volumePluginDir: %[7]s
podLogsDir: /var/log/pods
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1%%"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
serializeImagePulls: false
maxPods: 110
rotateCertificates: false
serverTLSBootstrap: false
localStorageCapacityIsolation: true
`

// startKubelet runs the kubelet and waits until the Node is Ready.
func (c *Cluster) startKubelet(ctx context.Context) error {
	if err := c.pki.issue("kubelet-serving", "system:node:"+c.cfg.NodeName, []string{"system:nodes"}, []string{c.cfg.NodeIP, c.cfg.NodeName, "localhost"}); err != nil {
		return err
	}
	dir := filepath.Join(c.cfg.RunDir, "kubelet")
	if err := os.MkdirAll(filepath.Join(dir, "volume-plugins"), 0o755); err != nil {
		return err
	}
	// Pods resolve nothing outside the cluster: 127.0.0.1 inside a pod's own
	// network namespace answers no DNS, so no query ever leaves the host.
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		return err
	}
	conf := fmt.Sprintf(kubeletConfig, c.cfg.NodeIP, c.pki.path("ca.crt"), c.pki.path("kubelet-serving.crt"), c.pki.path("kubelet-serving.key"),
		c.ctrdSock, resolv, filepath.Join(dir, "volume-plugins"))
	confPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	p, err := c.startProcess("kubelet", c.bins["kubelet"], []string{
		"--config=" + confPath,
		"--kubeconfig=" + c.kubeconfigFile("kubelet-client"),
		"--root-dir=" + KubeletRootDir,
		"--hostname-override=" + c.cfg.NodeName,
		"--node-ip=" + c.cfg.NodeIP,
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return err
	}
	return c.poll(ctx, "node "+c.cfg.NodeName, p, 120*time.Second, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, c.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status != corev1.ConditionTrue {
					return fmt.Errorf("node not Ready: %s: %s", cond.Reason, cond.Message)
				}
				ready = true
			}
		}
		if !ready {
			return fmt.Errorf("node has no Ready condition yet")
		}
		// Pods schedule once the node lifecycle controller lifted the
		// taints the kubelet registered with.
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				return fmt.Errorf("node still tainted %s", t.Key)
			}
		}
		return nil
	})
}
