package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
	"github.com/kvcsi/kvcsi/scenarios/target/azvault"
)

// AKSEnv are the environment variables of the aks target: the vault, its
// tenant and the identities the documentation's placeholders stand for.
// The harness itself writes secrets, keys and certificates with
// azidentity.DefaultAzureCredential (AZURE_CLIENT_ID/AZURE_CLIENT_SECRET,
// workload identity, or `az login`), which needs set/create/import rights.
var AKSEnv = []struct{ Name, Placeholder, Meaning string }{
	{"KVCSI_AKS_KEYVAULT_NAME", "keyvault-name", "the Key Vault the scenarios read and rotate"},
	{"AZURE_TENANT_ID", "tenant-id", "the vault's tenant"},
	{"KVCSI_AKS_CLIENT_ID", scenarios.IdentityClientID, "client ID of the identity the nodes use for the vault (get and list on secrets, keys, certificates)"},
	{"KVCSI_AKS_WORKLOAD_CLIENT_ID", scenarios.IdentityWorkloadClientID, "client ID federated with system:serviceaccount:kvcsi-identity-workload-identity:workload-identity-sa"},
	{"KVCSI_AKS_SP_CLIENT_ID", scenarios.IdentitySPClientID, "a service principal with get and list access"},
	{"KVCSI_AKS_SP_CLIENT_SECRET", scenarios.IdentitySPClientSecret, "its client secret"},
	{"KVCSI_AKS_NO_ACCESS_CLIENT_ID", scenarios.IdentityNoAccessClientID, "a user-assigned identity assigned to the nodes without access to the vault"},
}

// StartAKS connects to the kubeconfig's cluster and the real vault named in
// the environment. Without that environment it returns ErrSkipped naming the
// variables to set.
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
	b, _, err := connect("aks", o)
	if err != nil {
		return nil, err
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return nil, fmt.Errorf("aks target: Azure credentials for writing to the vault: %w", err)
	}
	name := vals["keyvault-name"]
	v, err := azvault.New(name, vals["tenant-id"], "https://"+name+".vault.azure.net/", cred, azcore.ClientOptions{})
	if err != nil {
		return nil, err
	}
	b.VaultImpl = v
	b.IDs = map[string]string{}
	for _, e := range AKSEnv[2:] {
		b.IDs[e.Placeholder] = vals[e.Placeholder]
	}
	tag := o.ImageTag
	if tag == "" {
		tag = target.DefaultImageTag()
	}
	reg := os.Getenv("KVCSI_AKS_IMAGE_REGISTRY")
	b.AddonConfig = func(c *addon.Config) {
		c.ImageTag = tag
		if reg != "" {
			c.ImageRegistry = reg
		}
	}
	return b, nil
}
