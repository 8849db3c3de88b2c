// Package Store is the emulated world (tenants, identities, vaults and their
// objects) behind one lock, with its atomic persistence.
package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"
)

// Kind names as they appear in paths, permissions and error codes.
const (
	KindSecret      = "secret"
	KindKey         = "key"
	KindCertificate = "certificate"
)

// State is the whole emulated world: the directory (tenants and identities)
// and the vaults. It is what snapshots and persistence serialize, so every
// field is plain data. One mutex in Store guards all of it.
type State struct {
	Tenants       []Tenant          `json:"tenants"`
	Identities    []*Identity       `json:"identities"`
	PodIdentities []PodIdentity     `json:"podIdentities,omitempty"`
	Vaults        map[string]*Vault `json:"vaults"`
}

// Tenant is an Entra ID directory.
type Tenant struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Subscription is what Azure Resource Manager lists for the tenant (az
	// login); nil for none.
	Subscription *Subscription `json:"subscription,omitempty"`
}

// Subscription is an Azure subscription, as far as az login needs one.
type Subscription struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Identity kinds.
const (
	IdentityServicePrincipal = "servicePrincipal"
	IdentityManaged          = "managedIdentity"
)

// Identity is a principal that can get tokens: a service principal (client
// secrets, federated credentials) or a managed identity (IMDS, App Service,
// pod identity).
type Identity struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	TenantID   string `json:"tenantId"`
	ClientID   string `json:"clientId"`
	ObjectID   string `json:"objectId"`
	ResourceID string `json:"resourceId,omitempty"` // managed identities: ARM id, the msi_res_id selector
	// Default marks the managed identity IMDS answers for when a request names none
	// (the VM's identity).
	Default              bool                  `json:"default,omitempty"`
	Secrets              []string              `json:"secrets,omitempty"`
	FederatedCredentials []FederatedCredential `json:"federatedCredentials,omitempty"`
}

// FederatedCredential trusts tokens from an external issuer (a Kubernetes
// service-account issuer) for one subject.
type FederatedCredential struct {
	Name      string   `json:"name,omitempty"`
	Issuer    string   `json:"issuer,omitempty"` // default: Config.ServiceAccountIssuer
	Subject   string   `json:"subject"`          // system:serviceaccount:<ns>:<sa>
	Audiences []string `json:"audiences,omitempty"`
}

// PodIdentity maps pods to an identity for the NMI (aad-pod-identity) protocol.
type PodIdentity struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"` // exact name, or "*" for every pod of the namespace
	Identity  string `json:"identity"`
}

// AccessPolicy grants one identity permissions on a vault, as Key Vault access
// policies do. Permission names are the service's ("get", "list", "set",
// "wrapKey", ...); "all" grants every permission of that kind.
type AccessPolicy struct {
	ObjectID     string   `json:"objectId"`
	TenantID     string   `json:"tenantId,omitempty"`
	Secrets      []string `json:"secrets,omitempty"`
	Keys         []string `json:"keys,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
}

// Vault holds the three object kinds. A soft-deleted object stays in its map
// with Deleted set, which is what blocks its name until recover or purge.
type Vault struct {
	Name                    string                                 `json:"name"`
	TenantID                string                                 `json:"tenantId"`
	Location                string                                 `json:"location,omitempty"`
	SoftDeleteRetentionDays int                                    `json:"softDeleteRetentionDays,omitempty"`
	PurgeProtection         bool                                   `json:"purgeProtection,omitempty"`
	AccessPolicies          []AccessPolicy                         `json:"accessPolicies"`
	Secrets                 map[string]*Object[SecretVersion]      `json:"secrets"`
	Keys                    map[string]*Object[KeyVersion]         `json:"keys"`
	Certificates            map[string]*Object[CertificateVersion] `json:"certificates"`
	// CertificateSettings holds the certificate contacts and issuers; owned by
	// the data plane's certificate-settings handlers.
	CertificateSettings json.RawMessage `json:"certificateSettings,omitempty"`
}

// Object is one named object with its versions, oldest first.
type Object[V any] struct {
	Name     string    `json:"name"`
	Versions []*V      `json:"versions"`
	Deleted  *Deletion `json:"deleted,omitempty"`
	// Extra is per-kind object-level data that is not per version (for
	// certificates: the policy and the pending operation; for keys: the rotation
	// policy). Owned by the handlers of that kind.
	Extra json.RawMessage `json:"extra,omitempty"`
}

// Deletion is the soft-deleted state of an object.
type Deletion struct {
	DeletedDate        int64 `json:"deletedDate"`
	ScheduledPurgeDate int64 `json:"scheduledPurgeDate"`
}

// Attributes are the service's object attributes. Times are Unix seconds, as
// on the wire.
type Attributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created,omitempty"`
	Updated         int64  `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays int    `json:"recoverableDays,omitempty"`
	Exportable      *bool  `json:"exportable,omitempty"` // keys only
}

// IsEnabled treats a missing flag as enabled, like the service.
func (a Attributes) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// SecretVersion is one version of a secret. A secret backing a certificate
// version has CertificateVersion/KeyName set and Managed true.
type SecretVersion struct {
	Version     string            `json:"version"`
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Attributes  Attributes        `json:"attributes"`
	// Managed is true for the secret backing a certificate; its key is then
	// keys/<same name>/<same version> (rendered as "kid").
	Managed bool `json:"managed,omitempty"`
}

// KeyVersion is one version of a key. Key is the full private JWK (as kvcrypto
// serializes it); handlers render only its public part.
type KeyVersion struct {
	Version    string            `json:"version"`
	Key        json.RawMessage   `json:"key"`
	KeyOps     []string          `json:"keyOps,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Attributes Attributes        `json:"attributes"`
	Managed    bool              `json:"managed,omitempty"` // backs a certificate version
	Extra      json.RawMessage   `json:"extra,omitempty"`   // owned by the key handlers
}

// CertificateVersion is one version of a certificate. Its backing secret and
// key carry the same name and version.
type CertificateVersion struct {
	Version    string            `json:"version"`
	CER        []byte            `json:"cer"` // DER of the leaf certificate
	Tags       map[string]string `json:"tags,omitempty"`
	Attributes Attributes        `json:"attributes"`
	Extra      json.RawMessage   `json:"extra,omitempty"` // owned by the certificate handlers
}

// NewVersionID returns a fresh 32-hex version id, the service's format.
func NewVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Latest returns the newest version, or nil.
func (o *Object[V]) Latest() *V {
	if o == nil || len(o.Versions) == 0 {
		return nil
	}
	return o.Versions[len(o.Versions)-1]
}

func versionID(v any) string {
	switch x := v.(type) {
	case *SecretVersion:
		return x.Version
	case *KeyVersion:
		return x.Version
	case *CertificateVersion:
		return x.Version
	}
	return ""
}

// Version returns the version with that id ("" means the latest), or nil.
func (o *Object[V]) Version(id string) *V {
	if o == nil {
		return nil
	}
	if id == "" {
		return o.Latest()
	}
	for _, v := range o.Versions {
		if versionID(v) == id {
			return v
		}
	}
	return nil
}

// Live reports whether the object exists and is not soft-deleted.
func (o *Object[V]) Live() bool { return o != nil && o.Deleted == nil && len(o.Versions) > 0 }

// SortedNames returns map keys in a stable order for listing.
func SortedNames[V any](m map[string]*Object[V]) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultLocation is the Azure region of a vault whose seed names none.
const DefaultLocation = "eastus"

// NewVault returns an empty vault with the service defaults.
func NewVault(name, tenant string) *Vault {
	return &Vault{
		Name:                    name,
		TenantID:                tenant,
		Location:                DefaultLocation,
		SoftDeleteRetentionDays: 90,
		Secrets:                 map[string]*Object[SecretVersion]{},
		Keys:                    map[string]*Object[KeyVersion]{},
		Certificates:            map[string]*Object[CertificateVersion]{},
	}
}

// RecoveryLevel is what the service reports for a soft-delete vault.
func (v *Vault) RecoveryLevel() string {
	if v.PurgeProtection {
		return "Recoverable"
	}
	return "Recoverable+Purgeable"
}

// patch applies the attributes an update request sets (enabled, nbf, exp)
// and stamps updated; attributes the request leaves out keep their values.
func (a *Attributes) Patch(in *Attributes, now time.Time) {
	if in != nil {
		if in.Enabled != nil {
			a.Enabled = in.Enabled
		}
		if in.NotBefore != nil {
			a.NotBefore = in.NotBefore
		}
		if in.Expires != nil {
			a.Expires = in.Expires
		}
	}
	a.Updated = now.Unix()
}

// NewAttributes stamps created/updated and the vault's recovery settings on
// attributes taken from a request.
func (v *Vault) NewAttributes(in *Attributes, now time.Time) Attributes {
	var a Attributes
	if in != nil {
		a.Enabled, a.NotBefore, a.Expires, a.Exportable = in.Enabled, in.NotBefore, in.Expires, in.Exportable
	}
	if a.Enabled == nil {
		t := true
		a.Enabled = &t
	}
	a.Created, a.Updated = now.Unix(), now.Unix()
	a.RecoveryLevel = v.RecoveryLevel()
	a.RecoverableDays = v.SoftDeleteRetentionDays
	return a
}

// SoftDelete marks an object deleted with the vault's retention.
func (v *Vault) SoftDelete(now time.Time) *Deletion {
	return &Deletion{DeletedDate: now.Unix(), ScheduledPurgeDate: now.Add(time.Duration(v.SoftDeleteRetentionDays) * 24 * time.Hour).Unix()}
}
