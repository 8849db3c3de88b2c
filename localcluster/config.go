// Package localcluster runs a real single-node Kubernetes directly on a Linux
// host, without Docker: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler as processes, and a node made of containerd, runc, the bridge
// CNI plugin and a real kubelet. It is the `local` target of kvcsi: the
// kubelet itself makes the CSI calls, so subPath, env-from-Secret, exec and
// DaemonSets behave exactly as on a real cluster.
//
// Everything a run changes on the host (processes, mounts, cgroups, the
// bridge and its addresses, sysctls, kubelet and CNI state directories) is
// recorded in the run directory before it is changed, so Stop, and the next
// Start after a killed run, can put the host back as it was.
package localcluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
)

// Defaults of Config. The node's addresses come from the benchmarking range
// 198.18.0.0/15 (RFC 2544), which no real network routes, on a bridge this
// package creates and removes.
const (
	DefaultNodeName = "kvcsi-node"
	DefaultNodeIP   = "198.18.0.1"
	// DefaultServiceCIDR holds the "kubernetes" Service's ClusterIP
	// (198.18.1.1). The apiserver of a full cluster listens exactly there, on
	// port 443, so in-cluster clients reach it without kube-proxy.
	DefaultServiceCIDR = "198.18.1.0/24"
	// DefaultServiceAccountIssuer is the issuer kind and kubeadm use.
	DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// DefaultFullRunDir is where a full cluster keeps its state; the CLI's
	// `up` and `down` agree on it.
	DefaultFullRunDir = "/var/lib/kvcsi/cluster"
	// BridgeName is the interface the node IP, the ClusterIP of the
	// apiserver and the pods' veths live on.
	BridgeName = "kvcsi0"
	// KubeletRootDir is the standard kubelet root, so that the driver's
	// manifests work unchanged.
	KubeletRootDir = "/var/lib/kubelet"
)

// Config describes one local cluster. The zero value is a full single-node
// cluster in DefaultFullRunDir; every field has a working default.
type Config struct {
	// RunDir holds all state: certificates, kubeconfigs, etcd data,
	// containerd's root, logs and the record of host changes. Default:
	// DefaultFullRunDir, or a new temporary directory when ControlPlaneOnly.
	RunDir string
	// NodeName is the Node object's name. Default DefaultNodeName.
	NodeName string
	// NodeIP is the node's InternalIP, put on the bridge BridgeName as a /24;
	// the pods get addresses from the same /24. Default DefaultNodeIP.
	NodeIP string
	// ServiceCIDR is the Service range; its first address is the apiserver's
	// ClusterIP. Default DefaultServiceCIDR.
	ServiceCIDR string
	// ControlPlaneOnly runs only etcd, kube-apiserver and
	// kube-controller-manager on loopback ports; it needs no root and changes
	// nothing on the host. For server-side dry-run and API tests.
	ControlPlaneOnly bool
	// Scheduler also runs kube-scheduler in a ControlPlaneOnly cluster, so
	// pods are bound to Node objects that something else registers (the sim
	// target's simulated kubelets). A full cluster always runs it.
	Scheduler bool
	// ServiceAccountIssuer is the iss claim of service-account tokens.
	// Default DefaultServiceAccountIssuer.
	ServiceAccountIssuer string
	// BinDir, when set, holds prebuilt binaries named without versions
	// (kube-apiserver, kubelet, etcd, containerd, ...). Default: the versioned
	// build cache (see BinaryCacheDir), filled on first use.
	BinDir string
	// Logger receives progress; process output goes to RunDir/logs.
	// Default: discard.
	Logger *slog.Logger
	// KeepRunDir leaves RunDir (logs, certificates) in place after Stop;
	// host changes are undone regardless.
	KeepRunDir bool
	// InsecureRegistries are registries, host:port as image references
	// name them (127.0.0.1:5000), that the node's containerd pulls from
	// over plain HTTP: for each one Start writes a hosts.toml under the
	// directory containerd's CRI plugin reads registry configuration from
	// (RegistryHostsDir; see also Cluster.AddInsecureRegistry). Pods whose
	// images live there are then pulled like on any cluster, instead of
	// imported with LoadImages. Default: none; every other registry is
	// reached over HTTPS as containerd does by default.
	InsecureRegistries []string
}

// withDefaults returns a copy of c with every empty field filled, or an error
// naming the field that cannot be used.
func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.NodeName == "" {
		c.NodeName = DefaultNodeName
	}
	if c.NodeIP == "" {
		c.NodeIP = DefaultNodeIP
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = DefaultServiceCIDR
	}
	if c.ServiceAccountIssuer == "" {
		c.ServiceAccountIssuer = DefaultServiceAccountIssuer
	}
	ip := net.ParseIP(c.NodeIP).To4()
	if ip == nil {
		return c, fmt.Errorf("Config.NodeIP %q is not an IPv4 address; use one from a range no real network routes, e.g. %s", c.NodeIP, DefaultNodeIP)
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return c, fmt.Errorf("Config.NodeIP %q cannot be loopback or unspecified: the kubelet and pods need a routable node address; use e.g. %s", c.NodeIP, DefaultNodeIP)
	}
	_, svc, err := net.ParseCIDR(c.ServiceCIDR)
	if err != nil || svc.IP.To4() == nil {
		return c, fmt.Errorf("Config.ServiceCIDR %q is not an IPv4 CIDR; use e.g. %s", c.ServiceCIDR, DefaultServiceCIDR)
	}
	if svc.Contains(ip) || podNet(ip).Contains(svc.IP) {
		return c, fmt.Errorf("Config.ServiceCIDR %s overlaps the node network %s of Config.NodeIP; choose disjoint ranges", c.ServiceCIDR, podNet(ip))
	}
	if c.RunDir == "" {
		if c.ControlPlaneOnly {
			d, err := os.MkdirTemp("", "kvcsi-controlplane-")
			if err != nil {
				return c, fmt.Errorf("create a run directory: %w", err)
			}
			c.RunDir = d
		} else {
			c.RunDir = DefaultFullRunDir
		}
	}
	for _, h := range c.InsecureRegistries {
		if err := validRegistryHost(h); err != nil {
			return c, fmt.Errorf("Config.InsecureRegistries: %w", err)
		}
	}
	abs, err := filepath.Abs(c.RunDir)
	if err != nil {
		return c, fmt.Errorf("Config.RunDir %q: %w", c.RunDir, err)
	}
	c.RunDir = abs
	return c, nil
}

// podNet is the /24 around the node IP that the bridge and the pods share.
func podNet(nodeIP net.IP) *net.IPNet {
	return &net.IPNet{IP: nodeIP.Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}
}

// firstIP is the first usable address of a CIDR: the kubernetes Service's
// ClusterIP.
func firstIP(cidr string) net.IP {
	_, n, _ := net.ParseCIDR(cidr)
	ip := append(net.IP(nil), n.IP.To4()...)
	ip[3]++
	return ip
}

// ErrNeedsRoot is returned by Start for a full cluster when not run as root.
var ErrNeedsRoot = errors.New("a full local cluster needs root (it runs a kubelet, containerd and runc, creates a bridge and mounts); run as root, or set Config.ControlPlaneOnly for an API-only cluster")
