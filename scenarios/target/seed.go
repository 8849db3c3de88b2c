package target

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target/azvault"
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
			mi(scenarios.IdentityAddon, ids.AddonClientID, false),
			mi(scenarios.IdentityNode, ids.NodeClientID, true),
			mi(scenarios.IdentityNoAccess, ids.NoAccessClientID, false),
			mi(scenarios.IdentityPod, ids.PodClientID, false),
			{Name: scenarios.IdentityWorkload, Type: kvemulator.IdentityServicePrincipal, ClientID: ids.WorkloadClientID, ObjectID: uuid.NewString(),
				FederatedCredentials: []kvemulator.FederatedCredential{{Name: "kvcsi-scenarios", Issuer: issuer,
					Subject: "system:serviceaccount:" + WorkloadNamespace + ":" + scenarios.WorkloadServiceAccount}}},
			{Name: scenarios.IdentitySP, Type: kvemulator.IdentityServicePrincipal, ClientID: ids.SPClientID, ObjectID: uuid.NewString(), Secrets: []string{ids.SPSecret}},
			{Name: scenarios.IdentityHarnessName, Type: kvemulator.IdentityServicePrincipal, ClientID: ids.AdminClientID, ObjectID: uuid.NewString(), Secrets: []string{ids.AdminSecret}},
		},
		PodIdentities: []kvemulator.PodIdentity{{Namespace: PodIdentityNamespace, Pod: "*", Identity: scenarios.IdentityPod}},
		Vaults: []kvemulator.VaultSeed{{
			Name: VaultName,
			AccessPolicies: []kvemulator.AccessPolicySeed{
				{Identity: scenarios.IdentityAddon, Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: scenarios.IdentityNode, Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: scenarios.IdentityPod, Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: scenarios.IdentityWorkload, Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: scenarios.IdentitySP, Secrets: reader, Keys: reader, Certificates: reader},
				{Identity: scenarios.IdentityHarnessName, Secrets: []string{"all"}, Keys: []string{"all"}, Certificates: []string{"all"}},
			},
		}},
	}
	return seed, ids, nil
}

// EmulatorVault is the vault of the local and kind targets: the emulator
// through the real SDK clients, and its admin API for the request counters.
type EmulatorVault struct {
	*azvault.Vault
	Admin *kvemulator.AdminClient
}

// Requests reads the emulator's request counters.
func (v *EmulatorVault) Requests(context.Context) ([]scenarios.VaultRequest, error) {
	cs, err := v.Admin.Counters()
	if err != nil {
		return nil, fmt.Errorf("read the emulator's request counters: %w", err)
	}
	out := make([]scenarios.VaultRequest, 0, len(cs))
	for _, c := range cs {
		out = append(out, scenarios.VaultRequest{Op: c.Op, Identity: c.Identity, Object: c.Object, Status: c.Status, Count: c.Count})
	}
	return out, nil
}
