package scenarios

import (
	"context"
	"fmt"
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

// mountWithIdentity mounts ExampleSecret through class with podYAML (whose pod
// is named "identity") and checks the value.
func mountWithIdentity(ctx context.Context, env *Env, class, podYAML string) error {
	value := uniqueValue("identity")
	if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", value); err != nil {
		return err
	}
	if err := env.startPod(ctx, "identity", class+"---"+podYAML); err != nil {
		return err
	}
	return env.expectFile(ctx, "identity", "/mnt/secrets-store/ExampleSecret", value)
}

var identityUserMSI = Scenario{
	Name:    "identity/user-assigned-managed-identity",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "useVMManagedIdentity with userAssignedIdentityID (the add-on's azureKeyvaultSecretsProvider identity) mounts",
	Code:    []string{"provider/auth.Credentials.Get"},
	Run: func(ctx context.Context, env *Env) error {
		return mountWithIdentity(ctx, env, identityClass("azure-user-msi", `    usePodIdentity: "false"
    useVMManagedIdentity: "true"
    userAssignedIdentityID: <client-id>`), busyboxPod("identity", "azure-user-msi"))
	},
}

var identitySystemMSI = Scenario{
	Name:    "identity/system-assigned-managed-identity",
	Section: "Provide an identity to access the Azure key vault",
	Summary: "useVMManagedIdentity without userAssignedIdentityID uses the node's system-assigned identity",
	Code:    []string{"provider/auth.Credentials.Get"},
	Run: func(ctx context.Context, env *Env) error {
		return mountWithIdentity(ctx, env, identityClass("azure-system-msi", `    usePodIdentity: "false"
    useVMManagedIdentity: "true"`), busyboxPod("identity", "azure-system-msi"))
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
    clientID: <workload-client-id>`), pod)
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
		return mountWithIdentity(ctx, env, identityClass("azure-pod-identity", `    usePodIdentity: "true"`), pod)
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
		return mountWithIdentity(ctx, env, creds+"---"+identityClass("azure-sp", `    usePodIdentity: "false"`), pod)
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
		return nil
	},
}
