package scenarios

import (
	"context"
)

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
	// Addon runs `kvcsi addon <args...>` against the cluster with the options this
	// target needs (images, CA bundle, host aliases).
	Addon(ctx context.Context, args ...string) error
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
	// SecretVersions lists a secret's enabled version ids, newest first.
	SecretVersions(ctx context.Context, name string) ([]string, error)
}
