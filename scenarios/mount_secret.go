package scenarios

import (
	"context"
	"strings"
)

// mountSecretYAML is the documentation's busybox-secrets-store-inline pod and a
// SecretProviderClass for the add-on's user-assigned identity (the identity the
// documentation's "Create an AKS cluster" section creates).
const mountSecretYAML = `
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: azure-kvname-user-msi
spec:
  provider: azure
  parameters:
    usePodIdentity: "false"
    useVMManagedIdentity: "true"
    userAssignedIdentityID: <client-id>
    keyvaultName: <keyvault-name>
    objects: |
      array:
        - |
          objectName: ExampleSecret
          objectType: secret
          objectVersion: ""
    tenantId: <tenant-id>
---
kind: Pod
apiVersion: v1
metadata:
  name: busybox-secrets-store-inline
spec:
  containers:
    - name: busybox
      image: registry.k8s.io/e2e-test-images/busybox:1.29-1
      command:
        - "/bin/sleep"
        - "10000"
      volumeMounts:
      - name: secrets-store01-inline
        mountPath: "/mnt/secrets-store"
        readOnly: true
  volumes:
    - name: secrets-store01-inline
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes:
          secretProviderClass: "azure-kvname-user-msi"
`

// mountSecret proves "Validate the secrets": the mounted secret is listed and
// its value read with kubectl exec.
var mountSecret = Scenario{
	Name:    "mount/secret",
	Section: "Validate the secrets",
	Summary: "ls /mnt/secrets-store/ lists ExampleSecret and cat prints MyAKSExampleSecret",
	Code:    []string{"driver/csiplugin.Server.NodePublishVolume", "provider/server.Server.Mount"},
	Run: func(ctx context.Context, env *Env) error {
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", "MyAKSExampleSecret"); err != nil {
			return err
		}
		if err := env.startPod(ctx, "busybox-secrets-store-inline", mountSecretYAML); err != nil {
			return err
		}
		names, err := env.ls(ctx, "busybox-secrets-store-inline", "/mnt/secrets-store/")
		if err != nil {
			return err
		}
		if strings.Join(names, " ") != "ExampleSecret" {
			return errorf("ls /mnt/secrets-store/ printed %q, want ExampleSecret", names)
		}
		return env.expectFile(ctx, "busybox-secrets-store-inline", "/mnt/secrets-store/ExampleSecret", "MyAKSExampleSecret")
	},
}
