package scenarios

import (
	"context"
	"strings"
	"time"
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
	Code:    []string{"driver/csi.NodePublishVolume", "provider.Mount"},
	Run: func(ctx context.Context, env *Env) error {
		k := env.Target.Kube()
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", "MyAKSExampleSecret"); err != nil {
			return err
		}
		if err := k.Apply(ctx, env.Namespace, env.Render(mountSecretYAML)); err != nil {
			return err
		}
		if err := k.WaitPodReady(ctx, env.Namespace, "busybox-secrets-store-inline", 2*time.Minute); err != nil {
			return err
		}
		ls, err := k.Exec(ctx, env.Namespace, "busybox-secrets-store-inline", "", "ls", "/mnt/secrets-store/")
		if err != nil {
			return err
		}
		if strings.TrimSpace(ls) != "ExampleSecret" {
			return errorf("ls /mnt/secrets-store/ printed %q, want ExampleSecret", ls)
		}
		got, err := k.Exec(ctx, env.Namespace, "busybox-secrets-store-inline", "", "cat", "/mnt/secrets-store/ExampleSecret")
		if err != nil {
			return err
		}
		if got != "MyAKSExampleSecret" {
			return errorf("cat /mnt/secrets-store/ExampleSecret printed %d bytes that differ from the vault's value", len(got))
		}
		return nil
	},
}
