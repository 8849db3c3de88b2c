// Package seed is the YAML (or JSON) document that declares the emulated
// world; the data plane builds the state from it (dataplane.Build).
package seed

import (
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"

	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Seed is the YAML (or JSON) document that declares the emulated world. See
// docs/emulator.md and testdata/seed.yaml.
type Seed struct {
	Tenants       []store.Tenant      `json:"tenants,omitempty"`
	Identities    []store.Identity    `json:"identities,omitempty"`
	PodIdentities []store.PodIdentity `json:"podIdentities,omitempty"`
	Vaults        []VaultSeed         `json:"vaults,omitempty"`
}

// VaultSeed declares one vault.
type VaultSeed struct {
	Name                    string             `json:"name"`
	Tenant                  string             `json:"tenant,omitempty"`   // id; default: the first tenant
	Location                string             `json:"location,omitempty"` // Azure region; default eastus
	SoftDeleteRetentionDays int                `json:"softDeleteRetentionDays,omitempty"`
	PurgeProtection         bool               `json:"purgeProtection,omitempty"`
	AccessPolicies          []AccessPolicySeed `json:"accessPolicies,omitempty"`
	Secrets                 []SecretSeed       `json:"secrets,omitempty"`
	Keys                    []KeySeed          `json:"keys,omitempty"`
	Certificates            []CertificateSeed  `json:"certificates,omitempty"`
}

// AccessPolicySeed grants an identity (by seed name or object id) permissions.
type AccessPolicySeed struct {
	Identity     string   `json:"identity,omitempty"`
	ObjectID     string   `json:"objectId,omitempty"`
	Secrets      []string `json:"secrets,omitempty"`
	Keys         []string `json:"keys,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
}

// SecretSeed is a secret with its versions, oldest first.
type SecretSeed struct {
	Name     string              `json:"name"`
	Versions []SecretVersionSeed `json:"versions"`
}

// SecretVersionSeed is one secret version. Version is generated when empty.
type SecretVersionSeed struct {
	Version     string            `json:"version,omitempty"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Enabled     *bool             `json:"enabled,omitempty"`
	NotBefore   *int64            `json:"nbf,omitempty"`
	Expires     *int64            `json:"exp,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// KeySeed is a key with its versions; the key handlers create them.
type KeySeed struct {
	Name     string           `json:"name"`
	Versions []KeyVersionSeed `json:"versions"`
}

// KeyVersionSeed describes one key version to generate (or import, with JWK).
type KeyVersionSeed struct {
	Version string            `json:"version,omitempty"`
	Kty     string            `json:"kty"`               // RSA, EC (RSA-HSM, EC-HSM accepted)
	Size    int               `json:"keySize,omitempty"` // RSA: 2048, 3072, 4096
	Curve   string            `json:"crv,omitempty"`     // EC: P-256, P-384, P-521
	KeyOps  []string          `json:"keyOps,omitempty"`
	JWK     json.RawMessage   `json:"jwk,omitempty"` // import this private JWK instead of generating
	Enabled *bool             `json:"enabled,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// CertificateSeed is a certificate with its versions.
type CertificateSeed struct {
	Name     string                   `json:"name"`
	Versions []CertificateVersionSeed `json:"versions"`
}

// CertificateVersionSeed describes one certificate version: self-signed from
// the subject/policy fields, or imported from PFX (base64) or PEM.
type CertificateVersionSeed struct {
	Version        string            `json:"version,omitempty"`
	Subject        string            `json:"subject,omitempty"` // e.g. "CN=example.com"
	DNSNames       []string          `json:"dnsNames,omitempty"`
	ValidityMonths int               `json:"validityMonths,omitempty"`
	Kty            string            `json:"kty,omitempty"`
	Size           int               `json:"keySize,omitempty"`
	Curve          string            `json:"crv,omitempty"`
	ContentType    string            `json:"contentType,omitempty"` // application/x-pkcs12 (default) or application/x-pem-file
	PFX            string            `json:"pfx,omitempty"`         // base64 PKCS#12 to import
	Password       string            `json:"password,omitempty"`
	PEM            string            `json:"pem,omitempty"` // PEM key + certificates to import
	Enabled        *bool             `json:"enabled,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
}

// Load reads a YAML or JSON seed.
func Load(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed file: %w", err)
	}
	sd, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	return sd, nil
}

// Parse parses YAML or JSON strictly: an unknown field is an error naming it.
func Parse(b []byte) (*Seed, error) {
	var sd Seed
	if err := yaml.UnmarshalStrict(b, &sd); err != nil {
		return nil, fmt.Errorf("not a valid seed: %v", err)
	}
	return &sd, nil
}
