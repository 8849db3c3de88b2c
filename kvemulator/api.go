package kvemulator

import (
	"github.com/kvcsi/kvcsi/kvemulator/internal/admin"
	"github.com/kvcsi/kvcsi/kvemulator/internal/dataplane"
	"github.com/kvcsi/kvcsi/kvemulator/internal/faults"
	"github.com/kvcsi/kvcsi/kvemulator/internal/seed"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// The public names of the emulator's data: the seed document, the state a
// snapshot returns, and the admin API's bodies. They are defined in the
// internal packages that own them; these aliases are the API.
type (
	Seed                   = seed.Seed
	VaultSeed              = seed.VaultSeed
	AccessPolicySeed       = seed.AccessPolicySeed
	SecretSeed             = seed.SecretSeed
	SecretVersionSeed      = seed.SecretVersionSeed
	KeySeed                = seed.KeySeed
	KeyVersionSeed         = seed.KeyVersionSeed
	CertificateSeed        = seed.CertificateSeed
	CertificateVersionSeed = seed.CertificateVersionSeed

	State               = store.State
	Tenant              = store.Tenant
	Identity            = store.Identity
	FederatedCredential = store.FederatedCredential
	PodIdentity         = store.PodIdentity

	Fault      = faults.Fault
	Limits     = faults.Limits
	Duration   = faults.Duration
	Counter    = faults.Counter
	CounterKey = faults.CounterKey

	Info              = admin.Info
	Settings          = admin.Settings
	SetSecretRequest  = admin.SetSecretRequest
	SetSecretResponse = admin.SetSecretResponse

	AccessPolicy       = store.AccessPolicy
	AccessPolicyChange = admin.AccessPolicyChange
	AccessPolicyResult = admin.AccessPolicyResult
)

// Identity kinds of the seed.
const (
	IdentityServicePrincipal = store.IdentityServicePrincipal
	IdentityManaged          = store.IdentityManaged
)

// BreakIgnoreStateDirEnv names the break-on-purpose variable of the
// mutation test of faults/emulator-restart-persists: set to "1", Start
// ignores the state saved in StateDir. Never set it outside that test.
const BreakIgnoreStateDirEnv = store.BreakIgnoreStateDirEnv

// MaxSecretBytes is the service's limit on a secret value.
const MaxSecretBytes = dataplane.MaxSecretBytes

// LoadSeedFile reads a YAML or JSON seed; ParseSeed parses one.
func LoadSeedFile(path string) (*Seed, error) { return seed.Load(path) }

// ParseSeed parses a YAML or JSON seed strictly: an unknown field is an error naming it.
func ParseSeed(b []byte) (*Seed, error) { return seed.Parse(b) }

// DefaultLimits are the service's published limits.
func DefaultLimits() Limits { return faults.DefaultLimits() }
