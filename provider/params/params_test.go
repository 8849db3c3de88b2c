package params

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func attrsJSON(t *testing.T, kv map[string]string) string {
	t.Helper()
	b, err := json.Marshal(kv)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const oneSecret = "array:\n  - |\n    objectName: s1\n    objectType: secret\n"

func base(extra ...string) map[string]string {
	m := map[string]string{
		AttrPodName:      "p",
		AttrPodNamespace: "ns",
		"keyvaultName":   "kv1",
		"tenantID":       "t1",
		"objects":        oneSecret,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "<unset>" {
			delete(m, extra[i])
		} else {
			m[extra[i]] = extra[i+1]
		}
	}
	return m
}

const spSecrets = `{"ClientID":"id","CLIENTSECRET":"sec"}`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		attrs   map[string]string
		secrets string
		perm    string
		field   string
		msg     string
	}{
		{"no pod name", base(AttrPodName, "<unset>"), spSecrets, "", AttrPodName, "pod name is not provided"},
		{"no namespace", base(AttrPodNamespace, "<unset>"), spSecrets, "", AttrPodNamespace, "pod namespace is not provided"},
		{"bad bool", base("usePodIdentity", "yes"), spSecrets, "", "usePodIdentity", "failed to parse usePodIdentity flag, error:"},
		{"bad vm bool", base("useVMManagedIdentity", "maybe"), spSecrets, "", "useVMManagedIdentity", "failed to parse useVMManagedIdentity flag"},
		{"two modes", base("usePodIdentity", "true", "useVMManagedIdentity", "true"), "", "", "usePodIdentity", "only one identity mode can be enabled at a time"},
		{"pod identity and clientID", base("usePodIdentity", "true", "clientID", "x"), "", "", "usePodIdentity", "only one identity mode"},
		{"bool check before vault name", base("usePodIdentity", "nah", "keyvaultName", "<unset>"), spSecrets, "", "usePodIdentity", "failed to parse"},
		{"no vault", base("keyvaultName", "<unset>"), spSecrets, "", "keyvaultName", "keyvaultName is not provided"},
		{"no tenant", base("tenantID", "<unset>"), spSecrets, "", "tenantID", "tenantId is not provided"},
		{"unknown cloud", base("cloudName", "Mars"), spSecrets, "", "cloudName", `cloudName "Mars" is not a known cloud`},
		{"stack without file", base("cloudName", "azurestackcloud"), spSecrets, "", "cloudEnvFileName", "cloudEnvFileName is not provided"},
		{"stack with missing file", base("cloudName", "AzureStackCloud", "cloudEnvFileName", "/nonexistent/env.json"), spSecrets, "", "cloudEnvFileName", "cannot be read"},
		{"no client id", base(), `{"clientsecret":"x"}`, "", "nodePublishSecretRef", "could not find clientid in secrets"},
		{"no client secret", base(), `{"clientid":"x"}`, "", "nodePublishSecretRef", "could not find clientsecret in secrets"},
		{"workload without tokens", base("clientID", "c"), "", "", AttrServiceAccounts, "service account tokens not found"},
		{"workload without audience", base("clientID", "c", AttrServiceAccounts, `{"other":{"token":"x"}}`), "", "", AttrServiceAccounts, "token for audience api://AzureADTokenExchange not found"},
		{"objects unset", base("objects", "<unset>"), spSecrets, "", "objects", "objects is not set"},
		{"objects not yaml", base("objects", "array: [\n"), spSecrets, "", "objects", "failed to unmarshal objects"},
		{"objects without array", base("objects", "items: []"), spSecrets, "", "objects", "no 'array:' key"},
		{"bad vault name", base("keyvaultName", "kv_1"), spSecrets, "", "keyvaultName", "Invalid vault name"},
		{"vault name too short", base("keyvaultName", "kv"), spSecrets, "", "keyvaultName", "Invalid vault name"},
		{"vault url", base("keyvaultName", "https://kv1.vault.azure.net"), spSecrets, "", "keyvaultName", "Invalid vault name"},
		{"bad permission", base(), spSecrets, "oops", "permission", "failed to unmarshal file permission"},
		{"attributes not json", nil, spSecrets, "", "attributes", "failed to unmarshal attributes"},
		{"secrets not json, value not echoed", base(), `{"clientsecret": s3cr3t}`, "", "secrets", "invalid JSON at offset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := "{"
			if tc.attrs != nil {
				a = attrsJSON(t, tc.attrs)
			}
			_, err := Parse(a, tc.secrets, tc.perm, Defaults{})
			pe, ok := err.(*Error)
			if !ok {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if pe.Field != tc.field || !strings.Contains(pe.Msg, tc.msg) {
				t.Fatalf("got field %q msg %q; want field %q containing %q", pe.Field, pe.Msg, tc.field, tc.msg)
			}
			if strings.Contains(pe.Msg, "s3cr3t") || strings.Contains(pe.Msg, "sec") && strings.Contains(pe.Msg, "CLIENTSECRET") {
				t.Fatalf("message echoes a secret: %s", pe.Msg)
			}
		})
	}
}

func TestParseIdentities(t *testing.T) {
	tok := `{"api://AzureADTokenExchange":{"token":"jwt","expirationTimestamp":"2030-01-01T00:00:00Z"}}`
	tests := []struct {
		name    string
		attrs   map[string]string
		secrets string
		want    Identity
	}{
		{"service principal, keys case-insensitive", base(), spSecrets, Identity{Mode: ServicePrincipal, ClientID: "id", ClientSecret: "sec"}},
		{"workload identity", base("clientID", " c1 ", AttrServiceAccounts, tok), "", Identity{Mode: WorkloadIdentity, ClientID: "c1", FederatedToken: "jwt"}},
		{"system-assigned VM identity", base("useVMManagedIdentity", "true"), "", Identity{Mode: VMManagedIdentity}},
		{"user-assigned VM identity", base("useVMManagedIdentity", "TRUE", "userAssignedIdentityID", "u1"), "", Identity{Mode: VMManagedIdentity, UserAssignedIdentityID: "u1"}},
		{"pod identity", base("usePodIdentity", "true", "useVMManagedIdentity", "false"), "", Identity{Mode: PodIdentity}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(attrsJSON(t, tc.attrs), tc.secrets, "420", Defaults{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Identity != tc.want {
				t.Fatalf("identity mode %v, want %v", m.Identity.Mode, tc.want.Mode)
			}
		})
	}
}

func TestParseClouds(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "env.json")
	os.WriteFile(good, []byte(`{"name":"AzureStackCloud","activeDirectoryEndpoint":"https://login.stack.example","keyVaultEndpoint":"https://vault.stack.example","keyVaultDNSSuffix":"vault.stack.example:8443"}`), 0o644)
	partial := filepath.Join(dir, "partial.json")
	os.WriteFile(partial, []byte(`{"name":"AzureStackCloud","activeDirectoryEndpoint":"https://login.stack.example"}`), 0o644)
	tests := []struct {
		name, cloud, file, flag string
		wantAD, wantURL         string
		wantErr                 string
	}{
		{name: "default is public", wantAD: "https://login.microsoftonline.com/", wantURL: "https://kv1.vault.azure.net/"},
		{name: "flag default", flag: "AzureChinaCloud", wantURL: "https://kv1.vault.azure.cn/"},
		{name: "AzureCloud alias", cloud: "azurecloud", wantURL: "https://kv1.vault.azure.net/"},
		{name: "US Gov", cloud: "AzureUSGovernment", wantAD: "https://login.microsoftonline.us/", wantURL: "https://kv1.vault.usgovcloudapi.net/"},
		{name: "German", cloud: "AzureGermanCloud", wantURL: "https://kv1.vault.microsoftazure.de/"},
		{name: "stack", cloud: "AzureStackCloud", file: good, wantAD: "https://login.stack.example/", wantURL: "https://kv1.vault.stack.example:8443/"},
		{name: "stack file lacks fields", cloud: "AzureStackCloud", file: partial, wantErr: "lacks keyVaultEndpoint, keyVaultDNSSuffix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := base()
			if tc.cloud != "" {
				a["cloudName"] = tc.cloud
			}
			if tc.file != "" {
				a["cloudEnvFileName"] = tc.file
			}
			m, err := Parse(attrsJSON(t, a), spSecrets, "", Defaults{CloudName: tc.flag})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantAD != "" && m.Cloud.ActiveDirectoryEndpoint != tc.wantAD {
				t.Errorf("AD = %s", m.Cloud.ActiveDirectoryEndpoint)
			}
			if m.VaultURL() != tc.wantURL {
				t.Errorf("vault URL = %s, want %s", m.VaultURL(), tc.wantURL)
			}
		})
	}
}

func TestParseObjects(t *testing.T) {
	doc := func(lines ...string) string {
		var b strings.Builder
		b.WriteString("array:\n")
		for _, l := range lines {
			b.WriteString("  - |\n")
			for _, f := range strings.Split(l, ";") {
				b.WriteString("    " + strings.TrimSpace(f) + "\n")
			}
		}
		return b.String()
	}
	tests := []struct {
		name    string
		objects string
		want    []Object
		field   string
		msg     string
	}{
		{name: "defaults", objects: doc("objectName: s1; objectType: secret"),
			want: []Object{{Name: "s1", Type: "secret", Format: "pem", Encoding: "utf-8", Mode: 0o644}}},
		{name: "everything, trimmed and case-insensitive", objects: doc("objectName: ' c1 '; objectType: Cert; objectAlias: a/b.pem; objectVersion: latest; objectFormat: PEM; filePermission: 0600"),
			want: []Object{{Name: "c1", Alias: "a/b.pem", Type: "cert", Format: "pem", Encoding: "utf-8", Mode: 0o600}}},
		{name: "pfx secret with base64 and history", objects: doc("objectName: s; objectType: secret; objectFormat: pfx; objectEncoding: base64; objectVersionHistory: 3; objectVersion: abc123"),
			want: []Object{{Name: "s", Type: "secret", Format: "pfx", Encoding: "base64", VersionHistory: 3, Version: "abc123", Mode: 0o644}}},
		{name: "inline mappings are accepted", objects: "array:\n  - objectName: s1\n    objectType: key\n",
			want: []Object{{Name: "s1", Type: "key", Format: "pem", Encoding: "utf-8", Mode: 0o644}}},
		{name: "empty array", objects: "array:", want: nil},
		{name: "history of 1 writes the plain file, which a folder cannot sit under", objects: doc("objectName: s; objectType: secret; objectVersionHistory: 1", "objectName: t; objectType: secret; objectVersionHistory: 2; objectAlias: s/x"),
			field: "objectAlias", msg: `writes the file "s"`},
		{name: "no name", objects: doc("objectType: secret"), field: "objectName", msg: "objectName is not set"},
		{name: "name with slash", objects: doc("objectName: a/b; objectType: secret"), field: "objectName", msg: "not a Key Vault object name"},
		{name: "no type", objects: doc("objectName: s"), field: "objectType", msg: "objectType is not set"},
		{name: "bad type", objects: doc("objectName: s; objectType: secrets"), field: "objectType", msg: `invalid objectType "secrets"`},
		{name: "bad format", objects: doc("objectName: s; objectType: secret; objectFormat: der"), field: "objectFormat", msg: "use pem or pfx"},
		{name: "encoding on a key", objects: doc("objectName: s; objectType: key; objectEncoding: hex"), field: "objectEncoding", msg: "only valid with objectType secret"},
		{name: "bad encoding", objects: doc("objectName: s; objectType: secret; objectEncoding: utf-16"), field: "objectEncoding", msg: "use utf-8, hex or base64"},
		{name: "history not a number", objects: doc("objectName: s; objectType: secret; objectVersionHistory: two"), field: "objectVersionHistory", msg: "whole number"},
		{name: "history too big", objects: doc("objectName: s; objectType: secret; objectVersionHistory: 1001"), field: "objectVersionHistory", msg: "whole number"},
		{name: "permission 0000 is a real mode", objects: doc("objectName: s; objectType: secret; filePermission: '0000'"),
			want: []Object{{Name: "s", Type: "secret", Format: "pem", Encoding: "utf-8", Mode: 0}}},
		{name: "alias dot", objects: doc("objectName: s; objectType: secret; objectAlias: ."), field: "objectAlias", msg: "names the mount itself"},
		{name: "alias ..data", objects: doc("objectName: s; objectType: secret; objectAlias: ..data"), field: "objectAlias", msg: "reserves for its ..data link"},
		{name: "alias starting with ..", objects: doc("objectName: s; objectType: secret; objectAlias: ..2026_x/y"), field: "objectAlias", msg: "remove the leading dots"},
		{name: "alias with NUL", objects: "array:\n  - objectName: s\n    objectType: secret\n    objectAlias: \"a\\0b\"\n", field: "objectAlias", msg: "NUL"},
		{name: "alias ./x names the fix", objects: doc("objectName: s; objectType: secret; objectAlias: ./x"), field: "objectAlias", msg: `not a clean path: remove '.', '//' and trailing '/' (use "x")`},
		{name: "alias dir/ names the fix", objects: doc("objectName: s; objectType: secret; objectAlias: dir/"), field: "objectAlias", msg: `(use "dir")`},
		{name: "bad version", objects: doc("objectName: s; objectType: secret; objectVersion: ../x"), field: "objectVersion", msg: "not a Key Vault version id"},
		{name: "absolute alias", objects: doc("objectName: s; objectType: secret; objectAlias: /etc/passwd"), field: "objectAlias", msg: "absolute path"},
		{name: "traversal alias", objects: doc("objectName: s; objectType: secret; objectAlias: a/../../x"), field: "objectAlias", msg: "contains '..'"},
		{name: "unclean alias", objects: doc("objectName: s; objectType: secret; objectAlias: a//b"), field: "objectAlias", msg: "not a clean path"},
		{name: "file used as a directory", objects: doc("objectName: s; objectType: secret; objectVersionHistory: 2", "objectName: t; objectType: secret; objectAlias: s"), field: "objectAlias", msg: "as a directory"},
		{name: "too many files", objects: doc("objectName: s; objectType: secret; objectVersionHistory: 1000", "objectName: t; objectType: secret; objectVersionHistory: 1000", "objectName: u; objectType: secret; objectVersionHistory: 1000",
			"objectName: v; objectType: secret; objectVersionHistory: 1000", "objectName: w; objectType: secret; objectVersionHistory: 1000", "objectName: x; objectType: secret; objectVersionHistory: 1000",
			"objectName: y; objectType: secret; objectVersionHistory: 1000", "objectName: z; objectType: secret; objectVersionHistory: 1000", "objectName: a; objectType: secret; objectVersionHistory: 1000",
			"objectName: b; objectType: secret; objectVersionHistory: 1000", "objectName: c; objectType: secret"), field: "objects", msg: "at most 10000 per volume"},
		{name: "nested value", objects: "array:\n  - objectName: [a]\n    objectType: secret\n", field: "objectName", msg: "must be a single value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warns, err := ParseObjects(tc.objects, 0o644, false)
			if tc.msg != "" {
				pe, ok := err.(*Error)
				if !ok || pe.Field != tc.field || !strings.Contains(pe.Msg, tc.msg) {
					t.Fatalf("err = %v, want field %s with %q", err, tc.field, tc.msg)
				}
				return
			}
			if err != nil || len(warns) > 0 {
				t.Fatal(err, warns)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d objects, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("object %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// FuzzParseObjects: any input either parses into objects whose files are
// safe, distinct paths, or fails with a *Error; it never panics.
func FuzzParseObjects(f *testing.F) {
	f.Add(oneSecret)
	f.Add("array:\n  - |\n    objectName: c\n    objectType: cert\n    objectAlias: a/b\n    objectVersionHistory: 2\n")
	f.Add("array:\n  - objectName: s\n    objectType: secret\n    filePermission: 0640\n")
	f.Add("array: []")
	f.Add("array:\n  - |\n    objectName: s\n    objectType: secret\n    objectAlias: ../x\n")
	f.Add("array:\n  - |\n    objectName: s\n    objectType: secret\n    objectAlias: ..data\n")
	f.Add("array:\n  - |\n    objectName: s\n    objectType: secret\n    filePermission: 07777\n")
	f.Fuzz(func(t *testing.T, raw string) {
		objs, _, err := ParseObjects(raw, 0o644, false)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, o := range objs {
			if o.Mode > 0o777 {
				t.Fatalf("mode %o", o.Mode)
			}
			for _, p := range o.Paths() {
				if err := CheckFileName("objectAlias", p); err != nil {
					t.Fatalf("unsafe path %q accepted: %v", p, err)
				}
			}
		}
	})
}
