package scenarios

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// azureSyncYAML is the documentation's azure-sync SecretProviderClass, completed
// (as the documentation asks) with the add-on identity's parameters and the
// object foo1 it syncs.
const azureSyncYAML = `
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: azure-sync
spec:
  provider: azure                             
  secretObjects:                              # [OPTIONAL] SecretObjects defines the desired state of synced Kubernetes secret objects
  - data:
    - key: username                           # data field to populate
      objectName: foo1                        # name of the mounted content to sync; this could be the object name or the object alias
    secretName: foosecret                     # name of the Kubernetes secret object
    type: Opaque                              # type of Kubernetes secret object (for example, Opaque, kubernetes.io/tls)
  parameters:
    usePodIdentity: "false"
    useVMManagedIdentity: "true"
    userAssignedIdentityID: <client-id>
    keyvaultName: <keyvault-name>
    objects: |
      array:
        - |
          objectName: foo1
          objectType: secret
    tenantId: <tenant-id>
`

// syncPodYAML is the documentation's pod of "Set an environment variable to
// reference Kubernetes secrets", verbatim but for the name.
const syncPodYAML = `
kind: Pod
apiVersion: v1
metadata:
  name: <pod-name>
spec:
  terminationGracePeriodSeconds: 1
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
      env:
      - name: SECRET_USERNAME
        valueFrom:
          secretKeyRef:
            name: foosecret
            key: username
  volumes:
    - name: secrets-store01-inline
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes:
          secretProviderClass: "azure-sync"
`

// syncOpaque proves "Sync mounted content with a Kubernetes secret": the
// mounted object is mirrored into the Opaque Secret foosecret, labelled as
// managed by the driver, and usable as an environment variable.
var syncOpaque = Scenario{
	Name:    "sync/opaque-secret",
	Section: "Sync mounted content with a Kubernetes secret",
	Summary: "azure-sync creates Opaque Secret foosecret (managed=true) and SECRET_USERNAME is set from it",
	Code:    []string{"driver/secretsync.Syncer.Sync"},
	Run: func(ctx context.Context, env *Env) error {
		value := uniqueValue("user")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", value); err != nil {
			return err
		}
		if err := env.startPod(ctx, "busybox-secrets-store-inline", azureSyncYAML+"---"+syncPodYAML, "<pod-name>", "busybox-secrets-store-inline"); err != nil {
			return err
		}
		if err := expectSyncedSecret(ctx, env, "foosecret", corev1.SecretTypeOpaque, map[string]string{"username": value}); err != nil {
			return err
		}
		// The shell's printf, not printenv: not every busybox build links
		// that applet, and the shell is what a user's container would use.
		out, err := env.Target.Kube().Exec(ctx, env.Namespace, "busybox-secrets-store-inline", "", "/bin/sh", "-c", `printf %s "$SECRET_USERNAME"`)
		if err != nil {
			return err
		}
		if out != value {
			return errorf("SECRET_USERNAME holds %d bytes that differ from the synced value", len(out))
		}
		return nil
	},
}

// expectSyncedSecret checks a synced Secret's type, managed label and data.
func expectSyncedSecret(ctx context.Context, env *Env, name string, typ corev1.SecretType, data map[string]string) error {
	s, err := env.Target.Kube().Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return errorf("synced Secret %s: %v", name, err)
	}
	if s.Type != typ {
		return errorf("Secret %s has type %s, want %s", name, s.Type, typ)
	}
	if s.Labels["secrets-store.csi.k8s.io/managed"] != "true" {
		return errorf("Secret %s lacks label secrets-store.csi.k8s.io/managed=true: %v", name, s.Labels)
	}
	for k, v := range data {
		if string(s.Data[k]) != v {
			return errorf("Secret %s key %s holds %d bytes that differ from the expected %d", name, k, len(s.Data[k]), len(v))
		}
	}
	return nil
}

// syncTLS proves the kubernetes.io/tls type of secretObjects: the certificate
// object's PEM is split into tls.crt (the chain) and tls.key.
var syncTLS = Scenario{
	Name:    "sync/tls-secret",
	Section: "Sync mounted content with a Kubernetes secret",
	Summary: "type kubernetes.io/tls splits the certificate secret into tls.crt (whole chain) and tls.key",
	Code:    []string{"driver/secretsync.Syncer.Sync"},
	Run: func(ctx context.Context, env *Env) error {
		ch, err := newChain("kvcsi-sync-tls")
		if err != nil {
			return err
		}
		if _, err := env.Target.Vault().ImportCertificate(ctx, "tlscert", ch.PFX, ch.Password); err != nil {
			return err
		}
		secretObjects := `  secretObjects:
  - secretName: ingress-tls-csi
    type: kubernetes.io/tls
    data:
    - objectName: tlscert
      key: tls.key
    - objectName: tlscert
      key: tls.crt
`
		yaml := userMSIClass("azure-tls", objects(object("objectName", "tlscert", "objectType", "secret")), secretObjects) +
			"---" + busyboxPod("tls", "azure-tls")
		if err := env.startPod(ctx, "tls", yaml); err != nil {
			return err
		}
		s, err := env.Target.Kube().Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "ingress-tls-csi", metav1.GetOptions{})
		if err != nil {
			return errorf("synced Secret ingress-tls-csi: %v", err)
		}
		if s.Type != corev1.SecretTypeTLS {
			return errorf("Secret type %s, want kubernetes.io/tls", s.Type)
		}
		if err := expectPEM(string(s.Data["tls.crt"]), "CERTIFICATE", "CERTIFICATE", "CERTIFICATE"); err != nil {
			return errorf("tls.crt: %v", err)
		}
		if err := expectChainOrder(string(s.Data["tls.crt"]), ch); err != nil {
			return errorf("tls.crt: %v", err)
		}
		if err := expectPEM(string(s.Data["tls.key"]), "RSA PRIVATE KEY"); err != nil {
			return errorf("tls.key: %v", err)
		}
		return nil
	},
}

// syncEnvNeedsMount proves the note of "Set an environment variable to
// reference Kubernetes secrets": a pod that only reads the synced Secret as an
// environment variable cannot start until some pod has mounted it.
var syncEnvNeedsMount = Scenario{
	Name:    "sync/env-var-needs-mount",
	Section: "Set an environment variable to reference Kubernetes secrets",
	Summary: "a pod using foosecret only through env waits until another pod mounts azure-sync, then starts",
	Code:    []string{"driver/secretsync.Syncer.Sync"},
	Run: func(ctx context.Context, env *Env) error {
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", uniqueValue("user")); err != nil {
			return err
		}
		envOnly := `
kind: Pod
apiVersion: v1
metadata:
  name: env-only
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: busybox
      image: registry.k8s.io/e2e-test-images/busybox:1.29-1
      command: ["/bin/sleep", "10000"]
      env:
      - name: SECRET_USERNAME
        valueFrom:
          secretKeyRef:
            name: foosecret
            key: username
`
		k := env.Target.Kube()
		if err := env.apply(ctx, azureSyncYAML+"---"+envOnly); err != nil {
			return err
		}
		// Without a mount there is no Secret, so the container cannot be created.
		if err := k.Eventually(ctx, time.Minute, func(ctx context.Context) (bool, error) {
			p, err := k.Clientset.CoreV1().Pods(env.Namespace).Get(ctx, "env-only", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, c := range p.Status.ContainerStatuses {
				if c.State.Waiting != nil && c.State.Waiting.Reason == "CreateContainerConfigError" {
					return true, nil
				}
				if c.State.Running != nil {
					return false, errorf("env-only started before any pod mounted azure-sync")
				}
			}
			return false, nil
		}); err != nil {
			return err
		}
		if _, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "foosecret", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return errorf("foosecret exists before any mount (err %v)", err)
		}
		if err := env.startPod(ctx, "mounter", syncPodYAML, "<pod-name>", "mounter"); err != nil {
			return err
		}
		return k.WaitPodReady(ctx, env.Namespace, "env-only", 2*time.Minute)
	},
}

// syncDeletedWithPods proves "When you delete the pods that consume the
// secrets, your Kubernetes secret will also be deleted": the Secret stays
// while one consuming pod remains and goes with the last one.
var syncDeletedWithPods = Scenario{
	Name:    "sync/deleted-with-pods",
	Section: "Sync mounted content with a Kubernetes secret",
	Summary: "foosecret survives deleting one of two consuming pods and is deleted with the last",
	Code:    []string{"driver/secretsync.Syncer.Sync"},
	Run: func(ctx context.Context, env *Env) error {
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", uniqueValue("user")); err != nil {
			return err
		}
		if err := env.startPod(ctx, "first", azureSyncYAML+"---"+syncPodYAML, "<pod-name>", "first"); err != nil {
			return err
		}
		if err := env.startPod(ctx, "second", syncPodYAML, "<pod-name>", "second"); err != nil {
			return err
		}
		k := env.Target.Kube()
		secrets := k.Clientset.CoreV1().Secrets(env.Namespace)
		s, err := secrets.Get(ctx, "foosecret", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.OwnerReferences) != 2 {
			return errorf("foosecret has owners %v, want the two pods", s.OwnerReferences)
		}
		if err := k.Delete(ctx, env.Namespace, env.Render(syncPodYAML, "<pod-name>", "first")); err != nil {
			return err
		}
		// No sleep for the negative: the garbage collector, finding foosecret
		// with one owner gone and one still there, removes the dangling
		// reference and keeps the object (kube-controller-manager's
		// attemptToDeleteItem, "solid" owner). Wait for that decision; a
		// collector that deleted it instead fails here.
		var gone error
		err = k.Eventually(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			s, err := secrets.Get(ctx, "foosecret", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				gone = err
				return true, nil
			}
			if err != nil {
				return false, err
			}
			if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != "second" {
				return false, errorf("foosecret has owners %v, want pod second only once pod first is gone", s.OwnerReferences)
			}
			return true, nil
		})
		if gone != nil {
			return errorf("foosecret gone while pod second still consumes it: %v", gone)
		}
		if err != nil {
			return err
		}
		if err := k.Delete(ctx, env.Namespace, env.Render(syncPodYAML, "<pod-name>", "second")); err != nil {
			return err
		}
		return k.Eventually(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := secrets.Get(ctx, "foosecret", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, errorf("foosecret still exists after its pods were deleted (%v)", err)
		})
	},
}
