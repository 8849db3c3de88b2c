package localcluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The node's containerd reads registry configuration the way containerd
// v2's documentation (docs/hosts.md) describes: the CRI image plugin's
// config_path names a directory with one <host[:port]>/hosts.toml per
// registry, read again at every pull (no restart). The local cluster always
// points config_path at a directory of its own, so the host's
// /etc/containerd/certs.d (containerd's default) never changes what the
// node pulls, and fills it from Config.InsecureRegistries and
// Cluster.AddInsecureRegistry.

// RegistryHostsDir is the directory the node's containerd reads hosts.toml
// files from (its CRI config_path) in a cluster whose run directory is
// runDir.
func RegistryHostsDir(runDir string) string { return filepath.Join(runDir, "containerd", "certs.d") }

// registryHostRE is a registry host as image references write it: a DNS
// name or IPv4 address, optionally with a port (no scheme, no path).
var registryHostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)

// validRegistryHost checks h is host[:port] as in an image reference: the
// directory name containerd looks up and the server of its hosts.toml.
func validRegistryHost(h string) error {
	if !registryHostRE.MatchString(h) || strings.Contains(h, "..") {
		return fmt.Errorf("registry %q is not host[:port] as image references name it (no scheme, no path), e.g. 127.0.0.1:5000", h)
	}
	if _, port, err := net.SplitHostPort(h); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("registry %q: port %q is not in 1-65535", h, port)
		}
	}
	return nil
}

// insecureHostsTOML is the hosts.toml that makes containerd pull host over
// plain HTTP: the registry is its own (only) endpoint, trusted to resolve
// tags and to serve content. skip_verify matters only if the registry
// redirects to HTTPS.
func insecureHostsTOML(host string) string {
	return fmt.Sprintf(`# Written by kvcsi's localcluster: pull %[1]s over plain HTTP.
server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
`, host)
}

// writeInsecureRegistry writes dir/<host>/hosts.toml for host.
func writeInsecureRegistry(dir, host string) error {
	if err := validRegistryHost(host); err != nil {
		return err
	}
	d := filepath.Join(dir, host)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(insecureHostsTOML(host)), 0o644)
}

// AddInsecureRegistry makes the node's containerd pull from host
// (host:port as image references name it) over plain HTTP from now on, like
// Config.InsecureRegistries does from the start: for a registry that starts
// after the cluster. containerd reads the file at the next pull.
func (c *Cluster) AddInsecureRegistry(host string) error {
	if c.cfg.ControlPlaneOnly {
		return fmt.Errorf("AddInsecureRegistry: a ControlPlaneOnly cluster has no node to pull images")
	}
	if err := writeInsecureRegistry(RegistryHostsDir(c.cfg.RunDir), host); err != nil {
		return fmt.Errorf("AddInsecureRegistry: %w", err)
	}
	return nil
}
