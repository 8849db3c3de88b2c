package scenarios

import (
	"context"
	"errors"
	"strings"
)

// AddonCommand is one `kvcsi addon` command as the documentation gives it.
type AddonCommand struct {
	// Verb is "enable", "update" or "disable".
	Verb string
	// Rotation is --enable-secret-rotation: on for enable and update; false
	// gives no flag (enable: rotation off; update: unchanged).
	Rotation bool
	// PollInterval is --rotation-poll-interval as given (e.g. "5m"); empty
	// gives no flag.
	PollInterval string
}

// String is the command line, e.g. "enable --enable-secret-rotation
// --rotation-poll-interval 5m".
func (c AddonCommand) String() string {
	s := []string{c.Verb}
	if c.Rotation {
		s = append(s, "--enable-secret-rotation")
	}
	if c.PollInterval != "" {
		s = append(s, "--rotation-poll-interval", c.PollInterval)
	}
	return strings.Join(s, " ")
}

// Target is where scenarios run: a cluster with kvcsi installable on it and a
// vault the cluster's identities can reach. local, kind and aks implement it.
type Target interface {
	// Name is "local", "kind" or "aks".
	Name() string
	// Kube is the cluster.
	Kube() *Kube
	// Vault is the Key Vault the scenarios read from and rotate.
	Vault() Vault
	// Identities maps the documentation's placeholders (without brackets) to this
	// target's values, e.g. "client-id" for the user-assigned identity's client ID.
	Identities() map[string]string
	// Addon makes the add-on change `kvcsi addon <cmd>` makes, against the
	// cluster, with the settings this target needs (images, CA bundle, host
	// aliases) for enable and update.
	Addon(ctx context.Context, cmd AddonCommand) error
	// Close releases what the target started.
	Close() error
}

// Vault is the Key Vault side of a target: the emulator's admin API on local and
// kind, the real service with real credentials on aks.
type Vault interface {
	Name() string
	TenantID() string
	// SetSecret stores a new version of a secret and returns its version id.
	SetSecret(ctx context.Context, name, value string) (version string, err error)
	// CreateKey creates a new version of an RSA 2048 key and returns its version id.
	CreateKey(ctx context.Context, name string) (version string, err error)
	// ImportCertificate imports a PKCS#12 (certificate, chain and private key)
	// as a new version of a certificate and returns its version id.
	ImportCertificate(ctx context.Context, name string, pfx []byte, password string) (version string, err error)
	// Requests returns the vault's request counters since it started: which
	// identity obtained a token and which read what. The emulator (local,
	// kind) counts; a real Key Vault does not say: ErrNoRequestCounters.
	Requests(ctx context.Context) ([]VaultRequest, error)
}

// VaultRequest is one request counter of the vault: Count requests of
// operation Op by Identity (a name of the tenant's seed, e.g.
// IdentityAddon) on Object, answered with Status. Token requests have Op
// Token (client credentials), IMDSToken (managed identity) or NMIToken (pod
// identity) and no Object; data-plane operations are the SDK's method names
// (GetSecret, …).
type VaultRequest struct {
	Op       string
	Identity string
	Object   string
	Status   int
	Count    int64
}

// ErrNoRequestCounters is Vault.Requests on a vault that does not count
// requests per identity (a real Key Vault: its diagnostic logs arrive minutes
// later and need a Log Analytics workspace the aks target does not have).
var ErrNoRequestCounters = errors.New("the vault has no per-identity request counters")

// Names of the emulated tenant's identities (the emulator's seed, which the
// local and kind targets share), as the vault's request counters name them.
const (
	// IdentityAddon is the add-on's user-assigned managed identity
	// (IdentityClientID).
	IdentityAddon = "azureKeyvaultSecretsProvider"
	// IdentityNode is the node's system-assigned managed identity, what IMDS
	// answers without a client id.
	IdentityNode        = "node-system-assigned"
	IdentityNoAccess    = "no-access"
	IdentityPod         = "pod-identity"
	IdentityWorkload    = "workload-app"
	IdentitySP          = "service-principal"
	IdentityHarnessName = "scenario-admin"
)

// Identity placeholders a target's Identities map fills, named as in the
// documentation's YAML where it has one.
const (
	// IdentityClientID is the add-on's user-assigned managed identity
	// (azureKeyvaultSecretsProvider), which has get access to the vault.
	IdentityClientID = "client-id"
	// IdentityWorkloadClientID is an identity federated with the service account
	// WorkloadServiceAccount in the namespace of scenario identity/workload.
	IdentityWorkloadClientID = "workload-client-id"
	// IdentitySPClientID and IdentitySPClientSecret are a service principal
	// with access to the vault.
	IdentitySPClientID     = "sp-client-id"
	IdentitySPClientSecret = "sp-client-secret"
	// IdentityNoAccessClientID is a user-assigned managed identity that exists
	// but has no access policy on the vault.
	IdentityNoAccessClientID = "no-access-client-id"
)

// WorkloadServiceAccount is the service account the workload identity is
// federated with, in the namespace of scenario identity/workload-identity
// (Namespace("identity/workload-identity") = "kvcsi-identity-workload-identity").
const WorkloadServiceAccount = "workload-identity-sa"
