package kvemulator

import (
	"github.com/kvcsi/kvcsi/kvemulator/internal/dataplane"
	"strings"
	"testing"
	"time"
)

func TestSeedExampleIsValid(t *testing.T) {
	sd, err := LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := dataplane.Build(sd, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kv1 := st.Vaults["kv1"]
	if kv1 == nil || len(kv1.Secrets["db-password"].Versions) != 2 {
		t.Fatalf("kv1/db-password should have 2 versions: %+v", kv1)
	}
	kv2 := st.Vaults["kv2"]
	if len(kv2.Keys["signing-key"].Versions) != 2 || kv2.Certificates["web-cert"] == nil {
		t.Fatalf("kv2 keys/certificates not seeded: %+v", kv2)
	}
	certVer := kv2.Certificates["web-cert"].Latest().Version
	if s := kv2.Secrets["web-cert"].Latest(); s == nil || s.Version != certVer || !s.Managed {
		t.Fatal("the certificate's backing secret must share its version and be managed")
	}
	if kv1.Secrets["retired"].Latest().Attributes.IsEnabled() {
		t.Fatal("retired's latest version should be disabled")
	}
}

func TestSeedErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown field", "vaults: [{name: kv1, secretz: []}]", "secretz"},
		{"bad vault name", "vaults: [{name: k}]", "vaults[0] (k): name must be 3-24"},
		{"bad secret name", "vaults: [{name: kv1, secrets: [{name: 'a b', versions: [{value: x}]}]}]", "secrets[0] (a b)"},
		{"policy for unknown identity", "vaults: [{name: kv1, accessPolicies: [{identity: ghost, secrets: [get]}]}]", `identity "ghost" is not declared`},
		{"bad tenant", "tenants: [{id: nope}]", "tenants[0].id"},
		{"oversized value", "vaults: [{name: kv1, secrets: [{name: a, versions: [{value: " + strings.Repeat("x", MaxSecretBytes+1) + "}]}]}]", "25 KB"},
		{"bad identity type", "identities: [{name: x, type: robot}]", `type "robot"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sd, err := ParseSeed([]byte(tc.yaml))
			if err == nil {
				_, err = dataplane.Build(sd, time.Now())
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
