package target

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/google/uuid"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/scenarios"
)

// VaultName is the emulated vault the scenarios read (<keyvault-name>).
const VaultName = "kvcsi-scenarios"

// Namespaces the emulator's seed trusts: workload identity's federated
// credential names a service account of the identity/workload scenario's
// namespace, and pod identity maps the identity/pod-identity scenario's
// namespace. They are the runner's "kvcsi-<group>-<behaviour>" names.
var (
	WorkloadNamespace    = scenarios.Namespace("identity/workload-identity")
	PodIdentityNamespace = scenarios.Namespace("identity/pod-identity")
)

// Identities are the principals of the emulated tenant. Client IDs are fresh
// per run; the secrets never leave the process but for the service
// principal's, which a scenario puts in a Kubernetes Secret as the
// documentation does.
type Identities struct {
	TenantID string
	// AddonClientID is the add-on's user-assigned identity
	// azureKeyvaultSecretsProvider (<client-id>).
	AddonClientID string
	// NodeClientID is the node's system-assigned identity (IMDS default).
	NodeClientID     string
	WorkloadClientID string
	SPClientID       string
	SPSecret         string
	NoAccessClientID string
	PodClientID      string
	// AdminClientID/AdminSecret are the harness's own service principal, which
	// may write secrets, keys and certificates (rotation, imports).
	AdminClientID string
	AdminSecret   string
}

// Placeholders maps the documentation's placeholders to these identities.
func (ids *Identities) Placeholders() map[string]string {
	return map[string]string{
		scenarios.IdentityClientID:         ids.AddonClientID,
		scenarios.IdentityWorkloadClientID: ids.WorkloadClientID,
		scenarios.IdentitySPClientID:       ids.SPClientID,
		scenarios.IdentitySPClientSecret:   ids.SPSecret,
		scenarios.IdentityNoAccessClientID: ids.NoAccessClientID,
	}
}

// NewSeed declares the tenant, the vault and every identity the catalogue
// uses; issuer is the cluster's service-account issuer (empty: the emulator's
// configured one).
func NewSeed(issuer string) (*kvemulator.Seed, *Identities, error) {
	secret := func() (string, error) {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
	ids := &Identities{
		TenantID:         uuid.NewString(),
		AddonClientID:    uuid.NewString(),
		NodeClientID:     uuid.NewString(),
		WorkloadClientID: uuid.NewString(),
		SPClientID:       uuid.NewString(),
		NoAccessClientID: uuid.NewString(),
		PodClientID:      uuid.NewString(),
		AdminClientID:    uuid.NewString(),
	}
	var err error
	if ids.SPSecret, err = secret(); err != nil {
		return nil, nil, err
	}
	if ids.AdminSecret, err = secret(); err != nil {
		return nil, nil, err
	}
	mi := func(name, clientID string, def bool) kvemulator.Identity {
		return kvemulator.Identity{Name: name, Type: kvemulator.IdentityManaged, ClientID: clientID, ObjectID: uuid.NewString(), Default: def,
			ResourceID: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/MC_kvcsi/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name}
	}
	// list: objectVersionHistory lists versions, which Key Vault allows
	// only with the list permission.
	reader := []string{"get", "list"}
	seed := &kvemulator.Seed{
		Tenants: []kvemulator.Tenant{{ID: ids.TenantID, Name: "kvcsi-scenarios"}},
		Identities: []kvemulator.Identity{
			mi("azureKeyvaultSecretsProvider", ids.AddonClientID, false),
			mi("node-system-assigned", ids.NodeClientID, true),
			mi("no-access", ids.NoAccessClientID, false),
			mi("pod-identity", ids.PodClientID, false),
			{Name: "workload-app", Type: kvemulator.IdentityServicePrincipal, ClientID: ids.WorkloadClientID, ObjectID: uuid.NewString(),
				FederatedCredentials: []kvemulator.FederatedCredential{{Name: "kvcsi-scenarios", Issuer: issuer,
					Subject: "system:serviceaccount:" + WorkloadNamespace + ":" + scenarios.WorkloadServiceAccount}}},
			{Name: "service-principal", Type: kvemulator.IdentityServicePrincipal, ClientID: ids.SPClientID, ObjectID: uuid.NewString(), Secrets: []string{ids.SPSecret}},
			{Name: "scenario-admin", Type: kvemulator.IdentityServicePrincipal, ClientID: ids.AdminClientID, ObjectID: uuid.NewString(), Secrets: []string{ids.AdminSecret}},
		},
		PodIdentities: []kvemulator.PodIdentity{{Namespace: PodIdentityNamespace, Pod: "*", Identity: "pod-identity"}},
		Vaults: []kvemulator.VaultSeed{{
			Name: VaultName,
			AccessPolicies: []kvemulator.AccessPolicySeed{
				{Identity: "azureKeyvaultSecretsProvider", Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: "node-system-assigned", Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: "pod-identity", Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: "workload-app", Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: "service-principal", Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: "scenario-admin", Secrets: []string{"all"}, Keys: []string{"all"}, Certificates: []string{"all"}},
			},
		}},
	}
	return seed, ids, nil
}
