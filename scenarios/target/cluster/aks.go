package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/provider/cloudenv"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
	"github.com/kvcsi/kvcsi/scenarios/target/azvault"
)

// AKSEnv are the environment variables the aks target needs: the vault, its
// tenant and the identity the nodes use for it (the documentation's
// <client-id>). The harness itself writes secrets, keys and certificates with
// azidentity.DefaultAzureCredential for the vault's tenant (AZURE_CLIENT_ID/
// AZURE_CLIENT_SECRET, workload identity, or `az login`), which needs
// secrets set/delete, keys create/import/delete and certificates
// import/delete on the vault.
var AKSEnv = []struct{ Name, Placeholder, Meaning string }{
	{"KVCSI_AKS_KEYVAULT_NAME", "keyvault-name", "the Key Vault the scenarios read and rotate"},
	{"AZURE_TENANT_ID", "tenant-id", "the vault's tenant"},
	{"KVCSI_AKS_CLIENT_ID", scenarios.IdentityClientID, "client ID of the identity the nodes use for the vault (get and list on secrets, keys, certificates)"},
}

// AKSIdentityEnv declare the prerequisites of the identity scenarios on
// AKS. A scenario whose variables are unset is reported `skipped: <what is
// missing>`: on a real cluster these identities exist only when the
// operator set them up (scale sets have no system-assigned identity by
// default and IMDS answers 400 when several user-assigned ones exist and
// none is named; pod identity needs aad-pod-identity's NMI).
var AKSIdentityEnv = []struct {
	Scenario, Name, Placeholder, Meaning string
}{
	{"identity/workload-identity", "KVCSI_AKS_WORKLOAD_CLIENT_ID", scenarios.IdentityWorkloadClientID,
		"client ID federated (for the cluster's OIDC issuer) with system:serviceaccount:kvcsi-identity-workload-identity:workload-identity-sa"},
	{"identity/service-principal", "KVCSI_AKS_SP_CLIENT_ID", scenarios.IdentitySPClientID, "a service principal with get and list access"},
	{"identity/service-principal", "KVCSI_AKS_SP_CLIENT_SECRET", scenarios.IdentitySPClientSecret, "its client secret"},
	{"identity/no-access", "KVCSI_AKS_NO_ACCESS_CLIENT_ID", scenarios.IdentityNoAccessClientID, "a user-assigned identity assigned to the nodes without access to the vault"},
	{"identity/system-assigned-managed-identity", "KVCSI_AKS_SYSTEM_ASSIGNED_IDENTITY", "",
		"set to true when the node pools' scale sets have a system-assigned identity with get and list on the vault and no user-assigned identity (IMDS then needs no client ID)"},
	{"identity/pod-identity", "KVCSI_AKS_POD_IDENTITY", "",
		"set to true when aad-pod-identity's NMI runs on the nodes and an AzureIdentityBinding with selector kvcsi-pod-identity binds an identity with get and list on the vault"},
}

// aksMissing maps each identity scenario to the variables it lacks in env.
func aksMissing(getenv func(string) string) map[string]string {
	miss := map[string][]string{}
	for _, e := range AKSIdentityEnv {
		v := getenv(e.Name)
		if v == "" || (e.Placeholder == "" && v != "true") {
			miss[e.Scenario] = append(miss[e.Scenario], e.Name+" ("+e.Meaning+")")
		}
	}
	out := map[string]string{}
	for sc, m := range miss {
		out[sc] = "aks target: set " + strings.Join(m, ", ") + " (docs/scenarios.md)"
	}
	return out
}

// StartAKS connects to the kubeconfig's cluster and the real vault named in
// the environment. Without that environment it returns ErrSkipped naming the
// variables to set. KVCSI_AKS_CLOUD_NAME (default AzurePublicCloud) selects
// the vault and login hosts and is passed to the add-on (--cloud-name).
func StartAKS(ctx context.Context, o Options) (*target.Base, error) {
	var missing []string
	vals := map[string]string{}
	for _, e := range AKSEnv {
		v := os.Getenv(e.Name)
		if v == "" {
			missing = append(missing, e.Name)
		}
		vals[e.Placeholder] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: set %s to run on aks (see docs/scenarios.md)", ErrSkipped, strings.Join(missing, ", "))
	}
	cloudName := os.Getenv("KVCSI_AKS_CLOUD_NAME")
	if cloudName == "" {
		cloudName = "AzurePublicCloud"
	}
	env, err := cloudenv.Lookup(cloudName, "")
	if err != nil {
		return nil, fmt.Errorf("KVCSI_AKS_CLOUD_NAME: %w", err)
	}
	b, _, err := connect("aks", o)
	if err != nil {
		return nil, err
	}
	clientOpts := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: env.ActiveDirectoryEndpoint}}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: clientOpts,
		TenantID:      vals["tenant-id"],
	})
	if err != nil {
		return nil, fmt.Errorf("aks target: Azure credentials for writing to the vault: %w", err)
	}
	name := vals["keyvault-name"]
	v, err := azvault.New(name, vals["tenant-id"], env.VaultURL(name), cred, clientOpts)
	if err != nil {
		return nil, err
	}
	b.VaultImpl = v
	b.IDs = map[string]string{scenarios.IdentityClientID: vals[scenarios.IdentityClientID]}
	for _, e := range AKSIdentityEnv {
		if e.Placeholder != "" {
			b.IDs[e.Placeholder] = os.Getenv(e.Name)
		}
	}
	b.Missing = aksMissing(os.Getenv)
	tag := o.ImageTag
	if tag == "" {
		tag = target.DefaultImageTag()
	}
	reg := os.Getenv("KVCSI_AKS_IMAGE_REGISTRY")
	b.AddonConfig = func(c *addon.Config) {
		c.ImageTag = tag
		c.CloudName = env.Name
		if reg != "" {
			c.ImageRegistry = reg
		}
	}
	return b, nil
}
