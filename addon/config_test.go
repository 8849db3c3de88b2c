package addon

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// testPEM returns a self-signed CA certificate and its private key, as PEM.
func testPEM(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kvcsi test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestValidateNamesTheFlag(t *testing.T) {
	cert, key := testPEM(t)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"rotation 5m", func(c *Config) { c.EnableSecretRotation = true; c.RotationPollInterval = "5m" }, ""},
		{"interval garbage", func(c *Config) { c.RotationPollInterval = "5 minutes" }, "--rotation-poll-interval \"5 minutes\" is not a duration"},
		{"interval zero", func(c *Config) { c.RotationPollInterval = "0s" }, "--rotation-poll-interval \"0s\" must be positive"},
		{"interval negative", func(c *Config) { c.RotationPollInterval = "-1m" }, "must be positive"},
		{"empty tag", func(c *Config) { c.ImageTag = "" }, "--image-tag \"\" is not a valid image tag"},
		{"tag with slash", func(c *Config) { c.ImageTag = "a/b" }, "--image-tag"},
		{"registry trailing slash", func(c *Config) { c.ImageRegistry = "ghcr.io/kvcsi/" }, "--image-registry"},
		{"registry with port", func(c *Config) { c.ImageRegistry = "localhost:5000/kvcsi" }, ""},
		{"ca bundle ok", func(c *Config) { c.ProviderCABundle = string(cert) }, ""},
		{"ca bundle with key", func(c *Config) { c.ProviderCABundle = string(cert) + string(key) }, "only CERTIFICATE blocks"},
		{"ca bundle garbage", func(c *Config) { c.ProviderCABundle = "hello" }, "not PEM"},
		{"host alias bad ip", func(c *Config) {
			c.ProviderHostAliases = []HostAlias{{IP: "10.0.0", Hostnames: []string{"a.vault.azure.net"}}}
		}, "is not an IP address"},
		{"host alias bad name", func(c *Config) { c.ProviderHostAliases = []HostAlias{{IP: "10.0.0.1", Hostnames: []string{"A_B"}}} }, "hostname \"A_B\" is not a DNS name"},
		{"extra arg not a flag", func(c *Config) { c.ProviderExtraArgs = []string{"cache-ttl=0"} }, "--provider-extra-arg \"cache-ttl=0\" is not a flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig("v1")
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if bytes.Contains([]byte(err.Error()), key[40:80]) {
				t.Fatal("the error echoes private key material")
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := DefaultConfig("")
	c.RotationPollInterval = "soon"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "--rotation-poll-interval") || !strings.Contains(err.Error(), "--image-tag") {
		t.Fatalf("err = %v, want both flags named", err)
	}
}

func TestParseHostAlias(t *testing.T) {
	h, err := ParseHostAlias("10.96.0.50=kv1.vault.azure.net, login.microsoftonline.com")
	if err != nil {
		t.Fatal(err)
	}
	if h.IP != "10.96.0.50" || !slices.Equal(h.Hostnames, []string{"kv1.vault.azure.net", "login.microsoftonline.com"}) {
		t.Fatalf("got %+v", h)
	}
	for _, bad := range []string{"10.96.0.50", "=a.b", "10.96.0.50="} {
		if _, err := ParseHostAlias(bad); err == nil || !strings.Contains(err.Error(), "IP=host1,host2") {
			t.Errorf("ParseHostAlias(%q) err = %v", bad, err)
		}
	}
}

func TestObjectsUseTheAKSNames(t *testing.T) {
	objs, err := Objects(DefaultConfig("v1"), "")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, o := range objs {
		if o.GetLabels()[AddonLabel] != Name {
			t.Errorf("%s %s lacks the add-on label", o.GetKind(), o.GetName())
		}
		if o.GetKind() == "DaemonSet" {
			if o.GetNamespace() != "kube-system" {
				t.Errorf("DaemonSet %s in %s", o.GetName(), o.GetNamespace())
			}
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			counts[o.GetName()] = len(cs)
		}
	}
	want := map[string]int{DriverName: 3, ProviderName: 1}
	if len(counts) != 2 || counts[DriverName] != 3 || counts[ProviderName] != 1 {
		t.Fatalf("DaemonSets and container counts = %v, want %v", counts, want)
	}
	// Sync is on by default, as on AKS.
	var syncRole bool
	for _, o := range objs {
		syncRole = syncRole || o.GetName() == DriverName+"-secretprovidersyncing"
	}
	if !syncRole {
		t.Error("the sync role is missing from the default add-on")
	}
	if last := objs[len(objs)-1]; last.GetName() != StateConfigMap {
		t.Errorf("the state ConfigMap is not applied last (it is %s): a failed install would look enabled", last.GetName())
	}
}

func TestDefaultImageTagIsAValidTag(t *testing.T) {
	if tag := DefaultImageTag(); !tagRE(tag) {
		t.Fatalf("DefaultImageTag() = %q is not a valid tag", tag)
	}
}

func TestRenderVersion(t *testing.T) {
	for _, tc := range []struct{ server, clientGo, want string }{
		{"v1.30.4", "v0.37.2", "v1.30.4"},
		{"v1.37.2+k3s1", "v0.37.2", "v1.37.2+k3s1"},
		{"v0.0.0-master+$Format:%H$", "v0.37.2", "v1.37.2"},
		{"v0.0.0-master+$Format:%H$", "", ""},
	} {
		if got := pickVersion(tc.server, tc.clientGo); got != tc.want {
			t.Errorf("pickVersion(%q, %q) = %q, want %q", tc.server, tc.clientGo, got, tc.want)
		}
	}
}
