// Package addon reproduces the AKS add-on "azure-keyvault-secrets-provider" on
// any cluster: enable, update, disable and status of the driver and provider
// DaemonSets in kube-system, under the AKS names, rendered from the embedded
// Helm chart and applied with server-side apply.
package addon

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/provider/cloudenv"
	"k8s.io/apimachinery/pkg/util/validation"
)

// AKS names and the place everything lives.
const (
	Name           = "azure-keyvault-secrets-provider"
	Namespace      = "kube-system"
	DriverName     = "aks-secrets-store-csi-driver"
	ProviderName   = "aks-secrets-store-provider-azure"
	FieldManager   = "kvcsi-addon"
	StateConfigMap = "azure-keyvault-secrets-provider-addon"
	// AddonLabel marks every object the add-on manager installed.
	AddonLabel = "kvcsi.io/addon"
	// DefaultRotationPollInterval is the AKS (and upstream) default.
	DefaultRotationPollInterval = "2m"
)

// HostAlias resolves hostnames to an IP in the provider pods (for an emulator
// answering as *.vault.azure.net).
type HostAlias struct {
	IP        string   `json:"ip"`
	Hostnames []string `json:"hostnames"`
}

// Config is the add-on's settings. It is stored in the cluster (ConfigMap
// StateConfigMap) so that update changes only what it is told to change.
type Config struct {
	EnableSecretRotation bool   `json:"enableSecretRotation"`
	RotationPollInterval string `json:"rotationPollInterval"`
	SyncSecret           bool   `json:"syncSecret"`
	ImageRegistry        string `json:"imageRegistry"`
	ImageTag             string `json:"imageTag"`
	OfficialSidecars     bool   `json:"officialSidecars,omitempty"`
	// ProviderCABundle is PEM text of CA certificates (public data only).
	ProviderCABundle    string      `json:"providerCABundle,omitempty"`
	ProviderHostAliases []HostAlias `json:"providerHostAliases,omitempty"`
	ProviderExtraArgs   []string    `json:"providerExtraArgs,omitempty"`
	// CloudName is the provider's --cloud-name (AzurePublicCloud when
	// empty): the vault and login hosts of sovereign clouds.
	CloudName string `json:"cloudName,omitempty"`
	// WindowsImageTag is the tag of the Windows images in ImageRegistry
	// (built and pushed by the user: docs/deploy.md#windows-images). The
	// Windows DaemonSets are installed only with it and only when the
	// cluster has Windows nodes.
	WindowsImageTag string `json:"windowsImageTag,omitempty"`
	// windows is set by the manager when it installs the Windows DaemonSets.
	windows bool
	// EnableSecretSyncController installs the secrets-store-sync-controller
	// Deployment (SecretSync objects, docs/secretsync.md). It polls at
	// RotationPollInterval when rotation is on, else at its own 12h default.
	EnableSecretSyncController bool `json:"enableSecretSyncController,omitempty"`
}

// DefaultConfig is what `kvcsi addon enable` installs without flags: rotation
// off with the 2m interval, Secret sync on (as on AKS), kvcsi's images.
func DefaultConfig(imageTag string) Config {
	return Config{
		RotationPollInterval: DefaultRotationPollInterval,
		SyncSecret:           true,
		ImageRegistry:        "ghcr.io/kvcsi",
		ImageTag:             imageTag,
	}
}

// Validate checks every setting and names the flag and the fix in its error.
// All problems are reported at once.
func (c Config) Validate() error {
	var errs []error
	if d, err := time.ParseDuration(c.RotationPollInterval); err != nil {
		errs = append(errs, fmt.Errorf("--rotation-poll-interval %q is not a duration: use a value such as 2m, 30s or 1h", c.RotationPollInterval))
	} else if d <= 0 {
		errs = append(errs, fmt.Errorf("--rotation-poll-interval %q must be positive: use a value such as 2m", c.RotationPollInterval))
	}
	if c.ImageRegistry == "" || strings.ContainsAny(c.ImageRegistry, " \t@") || strings.HasSuffix(c.ImageRegistry, "/") {
		errs = append(errs, fmt.Errorf("--image-registry %q is malformed: give host[:port]/path without a trailing slash, e.g. ghcr.io/kvcsi", c.ImageRegistry))
	}
	if !tagRE(c.ImageTag) {
		errs = append(errs, fmt.Errorf("--image-tag %q is not a valid image tag: use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-'), e.g. v0.1.0", c.ImageTag))
	}
	if c.ProviderCABundle != "" {
		if err := checkCABundle([]byte(c.ProviderCABundle)); err != nil {
			errs = append(errs, fmt.Errorf("--provider-ca-bundle: %w", err))
		}
	}
	for _, h := range c.ProviderHostAliases {
		if net.ParseIP(h.IP) == nil {
			errs = append(errs, fmt.Errorf("--provider-host-alias %q: %q is not an IP address; use IP=host1,host2", h.IP+"="+strings.Join(h.Hostnames, ","), h.IP))
		}
		if len(h.Hostnames) == 0 {
			errs = append(errs, fmt.Errorf("--provider-host-alias %q: no hostnames; use IP=host1,host2", h.IP))
		}
		for _, n := range h.Hostnames {
			if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("--provider-host-alias: hostname %q is not a DNS name: %s", n, strings.Join(msgs, "; ")))
			}
		}
	}
	if c.CloudName != "" && !cloudenv.IsStack(c.CloudName) {
		if _, err := cloudenv.Lookup(c.CloudName, ""); err != nil {
			errs = append(errs, fmt.Errorf("--cloud-name %q is not a known cloud: use AzurePublicCloud, AzureUSGovernmentCloud, AzureChinaCloud, AzureGermanCloud or AzureStackCloud", c.CloudName))
		}
	}
	if c.WindowsImageTag != "" && !tagRE(c.WindowsImageTag) {
		errs = append(errs, fmt.Errorf("--windows-image-tag %q is not a valid image tag: use letters, digits, '_', '.', '-', e.g. 0.1.0-windows-ltsc2022", c.WindowsImageTag))
	}
	for _, a := range c.ProviderExtraArgs {
		if !strings.HasPrefix(a, "-") {
			errs = append(errs, fmt.Errorf("--provider-extra-arg %q is not a flag: give it as --name=value", a))
		}
	}
	return errors.Join(errs...)
}

func tagRE(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// checkCABundle accepts PEM with at least one parseable CERTIFICATE and
// nothing else. It never echoes the content: a private key given by mistake
// must not end up in an error message or in a ConfigMap.
func checkCABundle(data []byte) error {
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(strings.TrimSpace(string(rest))) > 0 && n == 0 {
				return errors.New("not PEM: give a file of -----BEGIN CERTIFICATE----- blocks")
			}
			break
		}
		if b.Type != "CERTIFICATE" {
			return fmt.Errorf("contains a %q block; only CERTIFICATE blocks belong in a CA bundle (never a private key)", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("no CERTIFICATE block found: give a PEM file of CA certificates")
	}
	return nil
}

// ReadCABundle reads a PEM file of CA certificates for
// Config.ProviderCABundle and checks it as Validate does; errors name the
// file, never its content.
func ReadCABundle(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if err := checkCABundle(data); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return string(data), nil
}

// ParseHostAlias parses the flag form IP=host1,host2.
func ParseHostAlias(s string) (HostAlias, error) {
	ip, hosts, ok := strings.Cut(s, "=")
	if !ok || ip == "" || hosts == "" {
		return HostAlias{}, fmt.Errorf("--provider-host-alias %q: use IP=host1,host2, e.g. 10.96.0.50=myvault.vault.azure.net,login.microsoftonline.com", s)
	}
	h := HostAlias{IP: strings.TrimSpace(ip)}
	for _, n := range strings.Split(hosts, ",") {
		if n = strings.TrimSpace(n); n != "" {
			h.Hostnames = append(h.Hostnames, n)
		}
	}
	return h, nil
}

// Values turns the settings into chart values with the AKS names.
func (c Config) Values() map[string]any {
	aliases := []any{}
	for _, h := range c.ProviderHostAliases {
		hs := []any{}
		for _, n := range h.Hostnames {
			hs = append(hs, n)
		}
		aliases = append(aliases, map[string]any{"ip": h.IP, "hostnames": hs})
	}
	extra := []any{}
	for _, a := range c.ProviderExtraArgs {
		extra = append(extra, a)
	}
	return map[string]any{
		"commonLabels":         map[string]any{AddonLabel: Name},
		"enableSecretRotation": c.EnableSecretRotation,
		"rotationPollInterval": c.RotationPollInterval,
		"syncSecret":           map[string]any{"enabled": c.SyncSecret},
		"syncController":       map[string]any{"enabled": c.EnableSecretSyncController, "rotationPollInterval": c.syncControllerPollInterval()},
		"image":                map[string]any{"registry": c.ImageRegistry, "tag": c.ImageTag},
		"sidecars":             map[string]any{"official": c.OfficialSidecars},
		"windows":              map[string]any{"enabled": c.windows && c.WindowsImageTag != "", "imageTag": c.WindowsImageTag},
		"driver":               map[string]any{"name": DriverName},
		"provider": map[string]any{
			"name":        ProviderName,
			"caBundle":    c.ProviderCABundle,
			"hostAliases": aliases,
			"extraArgs":   extra,
			"cloudName":   c.CloudName,
		},
	}
}

// syncControllerPollInterval is the sync controller's --rotation-poll-interval:
// the add-on's interval when rotation is on, else upstream's 12h.
func (c Config) syncControllerPollInterval() string {
	if c.EnableSecretRotation {
		return c.RotationPollInterval
	}
	return "12h"
}
