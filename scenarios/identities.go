package scenarios

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// identityClass is a SecretProviderClass mounting ExampleSecret with the given
// identity parameters (already indented), in the form of the documentation
// page "Provide an identity to access the Azure Key Vault Provider".
func identityClass(name, identityParams string) string {
	return fmt.Sprintf(`
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: %s
spec:
  provider: azure
  parameters:
%s
    keyvaultName: <keyvault-name>
    objects: |
      array:
        - |
          objectName: ExampleSecret
          objectType: secret
          objectVersion: ""
    tenantId: <tenant-id>
`, name, identityParams)
}

// identityUse is the identity a mount must use: the vault's token endpoint
// (Token for client credentials, IMDSToken for managed identity, NMIToken
// for pod identity) and the identity's name in the seed.
type identityUse struct {
	TokenOp  string
	Identity string
}

// mountWithIdentity mounts ExampleSecret through class with podYAML (whose pod
// is named "identity"), checks the value, and checks in the vault's request
// counters that want's identity read it.
func mountWithIdentity(ctx context.Context, env *Env, class, podYAML string, want identityUse) error {
	value := uniqueValue("identity")
	if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", value); err != nil {
		return err
	}
	before, err := requestsBefore(ctx, env, want.Identity, "the mounted value")
	if err != nil {
		return err
	}
	if err := env.startPod(ctx, "identity", class+"---"+podYAML); err != nil {
		return err
	}
	if err := env.expectFile(ctx, "identity", "/mnt/secrets-store/ExampleSecret", value); err != nil {
		return err
	}
	if before == nil {
		return nil
	}
	return expectIdentityUsed(ctx, env, before, want, http.StatusOK)
}

// requestsBefore reads the vault's request counters before a mount; nil,
// said in the log, on a vault without them (aks), where only checked (what
// the scenario checks besides) is.
func requestsBefore(ctx context.Context, env *Env, identity, checked string) ([]VaultRequest, error) {
	before, err := env.Target.Vault().Requests(ctx)
	if errors.Is(err, ErrNoRequestCounters) {
		env.Logf("identity %s not asserted: %v (%s is)", identity, err, checked)
		return nil, nil
	}
	return before, err
}

// expectIdentityUsed checks the vault's request counters: want's identity has
// obtained a token from want's endpoint (at any time: the provider keeps a
// token per identity for its lifetime, so a mount may reuse one), and it read
// ExampleSecret, answered with status, since before.
func expectIdentityUsed(ctx context.Context, env *Env, before []VaultRequest, want identityUse, status int) error {
	after, err := env.Target.Vault().Requests(ctx)
	if err != nil {
		return err
	}
	count := func(rs []VaultRequest, op, object string, status int) (n int64) {
		for _, r := range rs {
			if r.Op == op && r.Identity == want.Identity && r.Object == object && r.Status == status {
				n += r.Count
			}
		}
		return n
	}
	if count(after, want.TokenOp, "", http.StatusOK) == 0 {
		return errorf("the vault issued no %s token to identity %s (token requests: %s)", want.TokenOp, want.Identity, readersOf(after, want.TokenOp, ""))
	}
	if count(after, "GetSecret", "ExampleSecret", status)-count(before, "GetSecret", "ExampleSecret", status) == 0 {
		return errorf("identity %s did not read ExampleSecret (status %d) during the mount; reads by identity since: %s",
			want.Identity, status, readersOf(subtract(after, before), "GetSecret", "ExampleSecret"))
	}
	return nil
}

// readersOf lists who made op on object, as "identity/status×count".
func readersOf(rs []VaultRequest, op, object string) string {
	var parts []string
	for _, r := range rs {
		if r.Op == op && r.Object == object && r.Count > 0 {
			who := r.Identity
			if who == "" {
				who = "(unauthenticated)"
			}
			parts = append(parts, fmt.Sprintf("%s/%d×%d", who, r.Status, r.Count))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// subtract is after's counters less before's.
func subtract(after, before []VaultRequest) []VaultRequest {
	type key struct {
		op, identity, object string
		status               int
	}
	prev := map[key]int64{}
	for _, r := range before {
		prev[key{r.Op, r.Identity, r.Object, r.Status}] += r.Count
	}
	var out []VaultRequest
	for _, r := range after {
		r.Count -= prev[key{r.Op, r.Identity, r.Object, r.Status}]
		out = append(out, r)
	}
	return out
}

var identityUserMSI = Scenario{
	Name:    "identity/user-assigned-managed-identity",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "useVMManagedIdentity with userAssignedIdentityID (the add-on's azureKeyvaultSecretsProvider identity) mounts",
	Code:    []string{"provider/auth.Credentials.Get"},
	Run: func(ctx context.Context, env *Env) error {
		return mountWithIdentity(ctx, env, identityClass("azure-user-msi", `    usePodIdentity: "false"
    useVMManagedIdentity: "true"
    userAssignedIdentityID: <client-id>`), busyboxPod("identity", "azure-user-msi"),
			identityUse{TokenOp: "IMDSToken", Identity: IdentityAddon})
	},
}

var identitySystemMSI = Scenario{
	Name:    "identity/system-assigned-managed-identity",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "useVMManagedIdentity without userAssignedIdentityID uses the node's system-assigned identity",
	Code:    []string{"provider/auth.Credentials.Get"},
	Run: func(ctx context.Context, env *Env) error {
		return mountWithIdentity(ctx, env, identityClass("azure-system-msi", `    usePodIdentity: "false"
    useVMManagedIdentity: "true"`), busyboxPod("identity", "azure-system-msi"),
			identityUse{TokenOp: "IMDSToken", Identity: IdentityNode})
	},
}

var identityWorkload = Scenario{
	Name:    "identity/workload-identity",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "clientID plus the pod's service-account token (audience api://AzureADTokenExchange) mounts",
	Code:    []string{"provider/auth.Credentials.Get", "driver/csiplugin.Server.NodePublishVolume"},
	Run: func(ctx context.Context, env *Env) error {
		sa := fmt.Sprintf(`
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %s
  annotations:
    azure.workload.identity/client-id: <workload-client-id>
`, WorkloadServiceAccount)
		pod := strings.Replace(busyboxPod("identity", "azure-workload"), "spec:\n",
			"spec:\n  serviceAccountName: "+WorkloadServiceAccount+"\n", 1)
		return mountWithIdentity(ctx, env, sa+"---"+identityClass("azure-workload", `    usePodIdentity: "false"
    clientID: <workload-client-id>`), pod,
			identityUse{TokenOp: "Token", Identity: IdentityWorkload})
	},
}

var identityPodIdentity = Scenario{
	Name:    "identity/pod-identity",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "usePodIdentity gets the pod's token from NMI (the deprecated aad-pod-identity protocol)",
	Code:    []string{"provider/auth.Credentials.Get"},
	Run: func(ctx context.Context, env *Env) error {
		pod := strings.Replace(busyboxPod("identity", "azure-pod-identity"), "metadata:\n  name: identity\n",
			"metadata:\n  name: identity\n  labels:\n    aadpodidbinding: kvcsi-pod-identity\n", 1)
		return mountWithIdentity(ctx, env, identityClass("azure-pod-identity", `    usePodIdentity: "true"`), pod,
			identityUse{TokenOp: "NMIToken", Identity: IdentityPod})
	},
}

var identityServicePrincipal = Scenario{
	Name:    "identity/service-principal",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "clientid/clientsecret from nodePublishSecretRef (a Secret labelled secrets-store.csi.k8s.io/used=true) mounts",
	Code:    []string{"provider/auth.Credentials.Get", "driver/csiplugin.Server.NodePublishVolume"},
	Run: func(ctx context.Context, env *Env) error {
		creds := `
apiVersion: v1
kind: Secret
metadata:
  name: secrets-store-creds
  labels:
    secrets-store.csi.k8s.io/used: "true"
type: Opaque
stringData:
  clientid: <sp-client-id>
  clientsecret: <sp-client-secret>
`
		pod := strings.Replace(busyboxPod("identity", "azure-sp"), `          secretProviderClass: "azure-sp"`,
			`          secretProviderClass: "azure-sp"
        nodePublishSecretRef:
          name: secrets-store-creds`, 1)
		return mountWithIdentity(ctx, env, creds+"---"+identityClass("azure-sp", `    usePodIdentity: "false"`), pod,
			identityUse{TokenOp: "Token", Identity: IdentitySP})
	},
}

var identityNoAccess = Scenario{
	Name:    "identity/no-access",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "an identity without access to the vault gets a FailedMount event naming the object and the denied access",
	Code:    []string{"provider/keyvault.Fetcher.Get", "driver/csiplugin.Server.NodePublishVolume"},
	Run: func(ctx context.Context, env *Env) error {
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("denied")); err != nil {
			return err
		}
		before, err := requestsBefore(ctx, env, IdentityNoAccess, "the FailedMount event")
		if err != nil {
			return err
		}
		yaml := identityClass("azure-no-access", `    usePodIdentity: "false"
    useVMManagedIdentity: "true"
    userAssignedIdentityID: <no-access-client-id>`) + "---" + busyboxPod("identity", "azure-no-access")
		if err := env.apply(ctx, yaml); err != nil {
			return err
		}
		ev, err := env.Target.Kube().WaitEvent(ctx, env.Namespace, "identity", "FailedMount", "ExampleSecret", 2*time.Minute)
		if err != nil {
			return err
		}
		msg := strings.ToLower(ev.Message)
		if !strings.Contains(msg, "permissiondenied") && !strings.Contains(msg, "forbidden") && !strings.Contains(msg, "access") {
			return errorf("FailedMount does not say access was denied: %s", ev.Message)
		}
		if before == nil {
			return nil
		}
		// The denial is the vault's answer to the no-access identity, not a
		// failure to get its token.
		return expectIdentityUsed(ctx, env, before, identityUse{TokenOp: "IMDSToken", Identity: IdentityNoAccess}, http.StatusForbidden)
	},
}
