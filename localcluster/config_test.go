package localcluster

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring naming the field; empty: valid
	}{
		{name: "zero value full cluster", cfg: Config{}},
		{name: "control plane only", cfg: Config{ControlPlaneOnly: true}},
		{name: "loopback node IP", cfg: Config{NodeIP: "127.0.0.5"}, wantErr: "Config.NodeIP"},
		{name: "not an IP", cfg: Config{NodeIP: "node"}, wantErr: "Config.NodeIP"},
		{name: "IPv6 node IP", cfg: Config{NodeIP: "fd00::1"}, wantErr: "Config.NodeIP"},
		{name: "bad service CIDR", cfg: Config{ServiceCIDR: "10.0.0.0"}, wantErr: "Config.ServiceCIDR"},
		{name: "service CIDR overlaps node network", cfg: Config{NodeIP: "198.18.1.10"}, wantErr: "overlaps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("withDefaults() error = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("withDefaults(): %v", err)
			}
			if got.ControlPlaneOnly {
				defer os.RemoveAll(got.RunDir)
				if !strings.Contains(got.RunDir, "kvcsi-controlplane-") {
					t.Errorf("RunDir = %q, want a fresh temporary directory", got.RunDir)
				}
			} else if got.RunDir != DefaultFullRunDir {
				t.Errorf("RunDir = %q, want %q", got.RunDir, DefaultFullRunDir)
			}
			if got.NodeName != DefaultNodeName || got.NodeIP != DefaultNodeIP || got.ServiceAccountIssuer != DefaultServiceAccountIssuer || got.Logger == nil {
				t.Errorf("defaults not filled: %+v", got)
			}
		})
	}
}

func TestFirstIPIsKubernetesServiceIP(t *testing.T) {
	if got := firstIP(DefaultServiceCIDR).String(); got != "198.18.1.1" {
		t.Fatalf("firstIP(%s) = %s, want 198.18.1.1", DefaultServiceCIDR, got)
	}
}

// The Go constants name the cache files; the modules decide what is built.
// They must agree, or a cache hit would run a different version.
func TestVersionsMatchModules(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	k8s := read("hack/k8s/go.mod")
	ctrd := read("hack/k8s/containerd/go.mod")
	for _, c := range []struct{ mod, text, want string }{
		{"k8s.io/kubernetes", k8s, KubernetesVersion},
		{"go.etcd.io/etcd/server/v3", k8s, EtcdVersion},
		{"github.com/containerd/containerd/v2", ctrd, ContainerdVersion},
	} {
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(c.mod) + `\s+(v\S+)`).FindStringSubmatch(c.text)
		if m == nil {
			t.Errorf("%s not required", c.mod)
			continue
		}
		if m[1] != c.want {
			t.Errorf("%s is %s in go.mod but the cache key says %s", c.mod, m[1], c.want)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/var/lib/kubelet/pods/a\040b`); got != "/var/lib/kubelet/pods/a b" {
		t.Fatalf("unescapeMount = %q", got)
	}
	if !under("/var/lib/kubelet/pods", "/var/lib/kubelet") || under("/var/lib/kubelet2", "/var/lib/kubelet") {
		t.Fatal("under() confuses prefixes with parents")
	}
}
