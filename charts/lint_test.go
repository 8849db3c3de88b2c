package charts

import (
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

// TestHelmLint runs `helm lint` (Helm's own linter, as a library) over the
// chart directory, with the defaults and with every optional part on.
func TestHelmLint(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"defaults": nil,
		"everything": {
			"enableSecretRotation": true,
			"syncSecret":           map[string]any{"enabled": true},
			"windows":              map[string]any{"enabled": true},
			"emulator":             map[string]any{"enabled": true, "seed": "vaults: []\n"},
			"provider": map[string]any{
				"caBundle":    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
				"hostAliases": []any{map[string]any{"ip": "10.0.0.1", "hostnames": []any{"kv.vault.azure.net"}}},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			l := lint.All(ChartDir, values, "kube-system", false)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}
