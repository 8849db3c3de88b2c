package kvemulator

import (
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"sigs.k8s.io/yaml"
)

// Seed is the YAML (or JSON) document that declares the emulated world. See
// docs/emulator.md and testdata/seed.yaml.
type Seed struct {
	Tenants       []Tenant      `json:"tenants,omitempty"`
	Identities    []Identity    `json:"identities,omitempty"`
	PodIdentities []PodIdentity `json:"podIdentities,omitempty"`
	Vaults        []VaultSeed   `json:"vaults,omitempty"`
}

// VaultSeed declares one vault.
type VaultSeed struct {
	Name                    string             `json:"name"`
	Tenant                  string             `json:"tenant,omitempty"` // id; default: the first tenant
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

// Hooks the key and certificate handlers set from their init, so seeding keys
// and certificates goes through the same code as the API. Without them a seed
// with keys or certificates is refused with a clear error.
var (
	seedKeyVersion         func(v *Vault, name string, spec KeyVersionSeed, now time.Time) error
	seedCertificateVersion func(v *Vault, name string, spec CertificateVersionSeed, now time.Time) error
)

// LoadSeedFile reads a YAML or JSON seed.
func LoadSeedFile(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed file: %w", err)
	}
	sd, err := ParseSeed(b)
	if err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	return sd, nil
}

// ParseSeed parses YAML or JSON strictly: an unknown field is an error naming it.
func ParseSeed(b []byte) (*Seed, error) {
	var sd Seed
	if err := yaml.UnmarshalStrict(b, &sd); err != nil {
		return nil, fmt.Errorf("not a valid seed: %v", err)
	}
	return &sd, nil
}

var (
	objectNameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)
	vaultNameRE  = regexp.MustCompile(`^[a-zA-Z][0-9a-zA-Z-]{1,22}[0-9a-zA-Z]$`)
	versionRE    = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// build validates the seed and turns it into a State. Every error names the
// entry and the field.
func (sd *Seed) build(now time.Time) (*State, error) {
	st := newState()
	st.Tenants = append(st.Tenants, sd.Tenants...)
	for i, t := range st.Tenants {
		if _, err := uuid.Parse(t.ID); err != nil {
			return nil, fmt.Errorf("seed tenants[%d].id %q is not a GUID", i, t.ID)
		}
	}
	if len(st.Tenants) == 0 {
		st.Tenants = []Tenant{{ID: defaultTenantID, Name: "default"}}
	}
	tenantOK := func(id string) bool {
		for _, t := range st.Tenants {
			if strings.EqualFold(t.ID, id) {
				return true
			}
		}
		return false
	}
	names := map[string]bool{}
	for i := range sd.Identities {
		id := sd.Identities[i]
		where := fmt.Sprintf("seed identities[%d] (%s)", i, id.Name)
		if id.Name == "" {
			return nil, fmt.Errorf("seed identities[%d].name is empty; give every identity a name", i)
		}
		if names[id.Name] {
			return nil, fmt.Errorf("%s: name is used twice", where)
		}
		names[id.Name] = true
		switch id.Type {
		case "":
			id.Type = IdentityServicePrincipal
		case IdentityServicePrincipal, IdentityManaged:
		default:
			return nil, fmt.Errorf("%s: type %q is not %q or %q", where, id.Type, IdentityServicePrincipal, IdentityManaged)
		}
		if id.TenantID == "" {
			id.TenantID = st.Tenants[0].ID
		} else if !tenantOK(id.TenantID) {
			return nil, fmt.Errorf("%s: tenantId %s is not declared under \"tenants\"", where, id.TenantID)
		}
		if id.ClientID == "" {
			id.ClientID = uuid.NewString()
		}
		if id.ObjectID == "" {
			id.ObjectID = uuid.NewString()
		}
		if id.Type == IdentityServicePrincipal && (id.ResourceID != "" || id.Default) {
			return nil, fmt.Errorf("%s: resourceId and default are for managed identities only", where)
		}
		if id.Type == IdentityManaged && len(id.Secrets) > 0 {
			return nil, fmt.Errorf("%s: a managed identity has no client secrets; remove its \"secrets\"", where)
		}
		for j, fc := range id.FederatedCredentials {
			if fc.Subject == "" {
				return nil, fmt.Errorf("%s federatedCredentials[%d].subject is empty; use system:serviceaccount:<namespace>:<name>", where, j)
			}
		}
		st.Identities = append(st.Identities, &id)
	}
	identityByName := map[string]*Identity{}
	for _, id := range st.Identities {
		identityByName[id.Name] = id
	}
	for i, pi := range sd.PodIdentities {
		if pi.Namespace == "" || pi.Pod == "" || identityByName[pi.Identity] == nil {
			return nil, fmt.Errorf("seed podIdentities[%d]: namespace, pod and identity (a declared identity name) are required", i)
		}
		st.PodIdentities = append(st.PodIdentities, pi)
	}
	for i, vs := range sd.Vaults {
		where := fmt.Sprintf("seed vaults[%d] (%s)", i, vs.Name)
		if !vaultNameRE.MatchString(vs.Name) {
			return nil, fmt.Errorf("%s: name must be 3-24 letters, digits and dashes, starting with a letter", where)
		}
		lname := strings.ToLower(vs.Name)
		if st.Vaults[lname] != nil {
			return nil, fmt.Errorf("%s: vault declared twice", where)
		}
		tenant := vs.Tenant
		if tenant == "" {
			tenant = st.Tenants[0].ID
		} else if !tenantOK(tenant) {
			return nil, fmt.Errorf("%s: tenant %s is not declared under \"tenants\"", where, tenant)
		}
		v := newVault(lname, tenant)
		if vs.SoftDeleteRetentionDays != 0 {
			if vs.SoftDeleteRetentionDays < 7 || vs.SoftDeleteRetentionDays > 90 {
				return nil, fmt.Errorf("%s: softDeleteRetentionDays must be 7..90", where)
			}
			v.SoftDeleteRetentionDays = vs.SoftDeleteRetentionDays
		}
		v.PurgeProtection = vs.PurgeProtection
		for j, ap := range vs.AccessPolicies {
			oid := ap.ObjectID
			if ap.Identity != "" {
				id := identityByName[ap.Identity]
				if id == nil {
					return nil, fmt.Errorf("%s accessPolicies[%d]: identity %q is not declared under \"identities\"", where, j, ap.Identity)
				}
				oid = id.ObjectID
			}
			if oid == "" {
				return nil, fmt.Errorf("%s accessPolicies[%d]: set identity (a name) or objectId", where, j)
			}
			v.AccessPolicies = append(v.AccessPolicies, AccessPolicy{ObjectID: oid, TenantID: tenant, Secrets: ap.Secrets, Keys: ap.Keys, Certificates: ap.Certificates})
		}
		for j, ss := range vs.Secrets {
			if err := seedSecret(v, ss, now); err != nil {
				return nil, fmt.Errorf("%s secrets[%d] (%s): %v", where, j, ss.Name, err)
			}
		}
		for j, ks := range vs.Keys {
			if seedKeyVersion == nil {
				return nil, fmt.Errorf("%s keys[%d]: this build cannot create keys yet", where, j)
			}
			if !objectNameRE.MatchString(ks.Name) || len(ks.Versions) == 0 {
				return nil, fmt.Errorf("%s keys[%d]: name must match ^[0-9a-zA-Z-]{1,127}$ and versions must not be empty", where, j)
			}
			for k, kv := range ks.Versions {
				if err := seedKeyVersion(v, ks.Name, kv, now); err != nil {
					return nil, fmt.Errorf("%s keys[%d] (%s) versions[%d]: %v", where, j, ks.Name, k, err)
				}
			}
		}
		for j, cs := range vs.Certificates {
			if seedCertificateVersion == nil {
				return nil, fmt.Errorf("%s certificates[%d]: this build cannot create certificates yet", where, j)
			}
			if !objectNameRE.MatchString(cs.Name) || len(cs.Versions) == 0 {
				return nil, fmt.Errorf("%s certificates[%d]: name must match ^[0-9a-zA-Z-]{1,127}$ and versions must not be empty", where, j)
			}
			for k, cv := range cs.Versions {
				if err := seedCertificateVersion(v, cs.Name, cv, now); err != nil {
					return nil, fmt.Errorf("%s certificates[%d] (%s) versions[%d]: %v", where, j, cs.Name, k, err)
				}
			}
		}
		st.Vaults[lname] = v
	}
	return st, nil
}

func seedSecret(v *Vault, ss SecretSeed, now time.Time) error {
	if err := checkObjectName(ss.Name); err != nil {
		return err
	}
	if len(ss.Versions) == 0 {
		return fmt.Errorf("versions is empty; give at least one value")
	}
	if v.Secrets[ss.Name] != nil {
		return fmt.Errorf("secret declared twice")
	}
	obj := &Object[SecretVersion]{Name: ss.Name}
	for k, sv := range ss.Versions {
		if err := checkSecretValue(sv.Value); err != nil {
			return fmt.Errorf("versions[%d]: %v", k, err)
		}
		ver := sv.Version
		if ver == "" {
			ver = NewVersionID()
		} else if !versionRE.MatchString(ver) {
			return fmt.Errorf("versions[%d].version %q must be 32 lower-case hex digits (or left out)", k, ver)
		}
		// Older versions get older timestamps so "newest first" sorting is stable.
		at := now.Add(time.Duration(k-len(ss.Versions)+1) * time.Second)
		obj.Versions = append(obj.Versions, &SecretVersion{
			Version: ver, Value: sv.Value, ContentType: sv.ContentType, Tags: sv.Tags,
			Attributes: v.newAttributes(&Attributes{Enabled: sv.Enabled, NotBefore: sv.NotBefore, Expires: sv.Expires}, at),
		})
	}
	v.Secrets[ss.Name] = obj
	return nil
}

func cloneState(st *State) *State {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	out := newState()
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	if out.Vaults == nil {
		out.Vaults = map[string]*Vault{}
	}
	return out
}

func sortedVaultNames(st *State) []string {
	names := make([]string, 0, len(st.Vaults))
	for n := range st.Vaults {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// readPublicKeys reads every public key (PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE blocks) from a PEM file: the service-account issuer keys.
func readPublicKeys(path string) ([]crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []crypto.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			keys = append(keys, k)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			keys = append(keys, k)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			keys = append(keys, c.PublicKey)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block", path)
	}
	return keys, nil
}
