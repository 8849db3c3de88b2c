package scenarios

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/addon"
	ssv1alpha1 "github.com/kvcsi/kvcsi/api/secretsync/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// secretSyncScenarios is this file's group of the catalogue (see catalogue.go):
// the secrets-store-sync-controller's SecretSync, which syncs a vault object
// into a Kubernetes Secret with no pod (docs/secretsync.md).
var secretSyncScenarios = []Scenario{
	secretSyncWithoutAPod,
	secretSyncRotation,
	secretSyncDeleted,
	secretSyncPolicyRefuses,
	secretSyncProviderError,
}

// secretSyncSection: SecretSync answers the limit this section states (the
// Secret exists only while a pod mounts the volume).
const secretSyncSection = "Sync mounted content with a Kubernetes secret"

// syncWait bounds one SecretSync's first sync: the controller's retries
// back off from 1s while the namespace's default service account appears.
const syncWait = 2 * time.Minute

// ensureSyncController turns the add-on's sync controller on (kvcsi addon
// update --enable-secret-sync-controller, with the run's short rotation poll
// interval) unless it is, enabling the add-on first when this group runs
// alone, and waits until its Deployment is rolled out and ready.
func ensureSyncController(ctx context.Context, env *Env) error {
	k := env.Target.Kube()
	m, err := addon.NewManager(k.Config, io.Discard)
	if err != nil {
		return err
	}
	c, err := m.Config(ctx)
	if err != nil {
		return err
	}
	short := RotationPollInterval.String()
	if c == nil {
		// A run of this group alone: enable the add-on as addon/enable does.
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "enable", Rotation: true, PollInterval: short}); err != nil {
			return err
		}
		if c, err = m.Config(ctx); err != nil {
			return err
		}
	}
	// The controller polls at the add-on's interval when rotation is on.
	if !c.EnableSecretSyncController || !c.EnableSecretRotation || c.RotationPollInterval != short {
		err := m.Update(ctx, func(c *addon.Config) {
			c.EnableSecretSyncController, c.EnableSecretRotation, c.RotationPollInterval = true, true, short
		})
		if err != nil {
			return fmt.Errorf("kvcsi addon update --enable-secret-sync-controller --enable-secret-rotation --rotation-poll-interval %s: %w", short, err)
		}
	}
	err = k.Eventually(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		d, err := k.Clientset.AppsV1().Deployments(addon.Namespace).Get(ctx, "secrets-store-sync-controller", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
			d.Status.ReadyReplicas == want && d.Status.Replicas == want, nil
	})
	if err != nil {
		return errorf("Deployment %s/secrets-store-sync-controller not ready: %v", addon.Namespace, err)
	}
	return nil
}

// secretSyncYAML is a SecretSync in upstream's form: the Secret name, the
// class, the service account and one key.
func secretSyncYAML(name, class, sourcePath, targetKey, extra string) string {
	return fmt.Sprintf(`
apiVersion: secret-sync.x-k8s.io/v1alpha1
kind: SecretSync
metadata:
  name: %s
spec:
  serviceAccountName: default
  secretProviderClassName: %s
  secretObject:
    type: Opaque
    data:
      - sourcePath: %s
        targetKey: %s
%s`, name, class, sourcePath, targetKey, extra)
}

func getSecretSync(ctx context.Context, env *Env, name string) (*ssv1alpha1.SecretSync, error) {
	u, err := env.Target.Kube().Dynamic.Resource(ssv1alpha1.Resource).Namespace(env.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	ss := &ssv1alpha1.SecretSync{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ss); err != nil {
		return nil, err
	}
	return ss, nil
}

// waitSyncCondition waits for the condition typ with reason and returns it.
func waitSyncCondition(ctx context.Context, env *Env, name, typ, reason string, timeout time.Duration) (metav1.Condition, error) {
	var got metav1.Condition
	var last string
	err := env.Target.Kube().Eventually(ctx, timeout, func(ctx context.Context) (bool, error) {
		ss, err := getSecretSync(ctx, env, name)
		if err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(ss.Status.Conditions, typ)
		if c == nil {
			return false, nil
		}
		last = c.Reason + ": " + c.Message
		if c.Reason != reason {
			return false, nil
		}
		got = *c
		return true, nil
	})
	if err != nil {
		return got, errorf("SecretSync %s: no condition %s with reason %s (last %q): %v", name, typ, reason, last, err)
	}
	return got, nil
}

// waitSecretKey waits until the Secret's key holds want.
func waitSecretKey(ctx context.Context, env *Env, name, key, want string, timeout time.Duration) error {
	k := env.Target.Kube()
	err := k.Eventually(ctx, timeout, func(ctx context.Context) (bool, error) {
		s, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return string(s.Data[key]) == want, nil
	})
	if err != nil {
		evs, _ := k.Events(ctx, env.Namespace, name)
		return errorf("Secret %s key %s never held the expected value: %v; SecretSync events: %s", name, key, err, FormatEvents(evs))
	}
	return nil
}

func exampleSecretClass(name string) string {
	return userMSIClass(name, object("objectName", "ExampleSecret", "objectType", "secret"), "")
}

var secretSyncWithoutAPod = Scenario{
	Name:    "secretsync/without-a-pod",
	Section: secretSyncSection,
	Summary: "a SecretSync creates the Secret with no pod in the namespace (labelled, owned by the SecretSync, condition CreateSucceeded); a pod using it only through env starts",
	Code:    []string{"secretsynccontroller.Reconciler.Reconcile"},
	Run: func(ctx context.Context, env *Env) error {
		if err := ensureSyncController(ctx, env); err != nil {
			return err
		}
		k := env.Target.Kube()
		value := uniqueValue("synced")
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", value); err != nil {
			return err
		}
		if err := env.apply(ctx, exampleSecretClass("azure-sync")+"---"+secretSyncYAML("synced-secret", "azure-sync", "ExampleSecret", "value", "")); err != nil {
			return err
		}
		if err := waitSecretKey(ctx, env, "synced-secret", "value", value, syncWait); err != nil {
			return err
		}
		pods, err := k.Clientset.CoreV1().Pods(env.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(pods.Items) != 0 {
			return errorf("%d pods in the namespace; the Secret must come without any", len(pods.Items))
		}
		s, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "synced-secret", metav1.GetOptions{})
		if err != nil {
			return err
		}
		ss, err := getSecretSync(ctx, env, "synced-secret")
		if err != nil {
			return err
		}
		if _, ok := s.Labels[ssv1alpha1.ControllerLabel]; !ok {
			return errorf("Secret labels %v lack %s", s.Labels, ssv1alpha1.ControllerLabel)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "SecretSync" || s.OwnerReferences[0].UID != ss.UID {
			return errorf("Secret owner references %+v: want the SecretSync alone", s.OwnerReferences)
		}
		if _, err := waitSyncCondition(ctx, env, "synced-secret", ssv1alpha1.ConditionTypeCreate, ssv1alpha1.ReasonCreateSucceeded, time.Minute); err != nil {
			return err
		}
		pod := `
kind: Pod
apiVersion: v1
metadata:
  name: env-consumer
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: busybox
      image: registry.k8s.io/e2e-test-images/busybox:1.29-1
      command: ["/bin/sleep", "10000"]
      env:
        - name: SYNCED
          valueFrom:
            secretKeyRef:
              name: synced-secret
              key: value
`
		if err := env.startPod(ctx, "env-consumer", pod); err != nil {
			return err
		}
		out, err := k.Exec(ctx, env.Namespace, "env-consumer", "busybox", "sh", "-c", `echo "$SYNCED"`)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != value {
			return errorf("the pod's environment does not hold the synced value (%d bytes)", len(strings.TrimSpace(out)))
		}
		return nil
	},
}

var secretSyncRotation = Scenario{
	Name:    "secretsync/rotation",
	Section: secretSyncSection,
	Summary: "a new version reaches the Secret within the controller's poll interval (ValueChangeOrForceUpdateDetected); a forceSynchronization change syncs another at once",
	Code:    []string{"secretsynccontroller.Reconciler.Reconcile", "secretsynccontroller.Run"},
	Run: func(ctx context.Context, env *Env) error {
		if err := ensureSyncController(ctx, env); err != nil {
			return err
		}
		v1 := uniqueValue("sync-v1")
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", v1); err != nil {
			return err
		}
		if err := env.apply(ctx, exampleSecretClass("azure-sync")+"---"+secretSyncYAML("rotating", "azure-sync", "ExampleSecret", "value", "")); err != nil {
			return err
		}
		if err := waitSecretKey(ctx, env, "rotating", "value", v1, syncWait); err != nil {
			return err
		}
		v2 := uniqueValue("sync-v2")
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", v2); err != nil {
			return err
		}
		if err := waitSecretKey(ctx, env, "rotating", "value", v2, rotationWait()); err != nil {
			return err
		}
		if _, err := waitSyncCondition(ctx, env, "rotating", ssv1alpha1.ConditionTypeUpdate, ssv1alpha1.ReasonValueChangeOrForceUpdateDetected, time.Minute); err != nil {
			return err
		}
		v3 := uniqueValue("sync-v3")
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", v3); err != nil {
			return err
		}
		patch := []byte(`{"spec":{"forceSynchronization":"` + fmt.Sprint(time.Now().Unix()) + `"}}`)
		if _, err := env.Target.Kube().Dynamic.Resource(ssv1alpha1.Resource).Namespace(env.Namespace).Patch(ctx, "rotating", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return err
		}
		return waitSecretKey(ctx, env, "rotating", "value", v3, rotationWait())
	},
}

var secretSyncDeleted = Scenario{
	Name:    "secretsync/deleted-with-secretsync",
	Section: secretSyncSection,
	Summary: "deleting the SecretSync deletes its Secret (owner reference, garbage collector)",
	Code:    []string{"secretsynccontroller.Reconciler.apply"},
	Run: func(ctx context.Context, env *Env) error {
		if err := ensureSyncController(ctx, env); err != nil {
			return err
		}
		k := env.Target.Kube()
		value := uniqueValue("doomed")
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", value); err != nil {
			return err
		}
		if err := env.apply(ctx, exampleSecretClass("azure-sync")+"---"+secretSyncYAML("doomed", "azure-sync", "ExampleSecret", "value", "")); err != nil {
			return err
		}
		if err := waitSecretKey(ctx, env, "doomed", "value", value, syncWait); err != nil {
			return err
		}
		if err := k.Dynamic.Resource(ssv1alpha1.Resource).Namespace(env.Namespace).Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			return err
		}
		err := k.Eventually(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "doomed", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return errorf("the Secret outlived its SecretSync: %v", err)
		}
		return nil
	},
}

var secretSyncPolicyRefuses = Scenario{
	Name:    "secretsync/policy-refuses",
	Section: secretSyncSection,
	Summary: "a forbidden Secret type gets condition ValidatingAdmissionPolicyCheckFailed and no Secret; a reserved label is refused by the CRD",
	Code:    []string{"charts.Render", "secretsynccontroller.Reconciler.Reconcile"},
	Run: func(ctx context.Context, env *Env) error {
		if err := ensureSyncController(ctx, env); err != nil {
			return err
		}
		k := env.Target.Kube()
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("refused")); err != nil {
			return err
		}
		sa := strings.Replace(secretSyncYAML("sa-token", "azure-sync", "ExampleSecret", "token", `    annotations:
      kubernetes.io/service-account.name: default
`), "type: Opaque", "type: kubernetes.io/service-account-token", 1)
		if err := env.apply(ctx, exampleSecretClass("azure-sync")+"---"+sa); err != nil {
			return err
		}
		c, err := waitSyncCondition(ctx, env, "sa-token", ssv1alpha1.ConditionTypeCreate, ssv1alpha1.ReasonValidatingAdmissionPolicyFailed, syncWait)
		if err != nil {
			return err
		}
		if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "kubernetes.io/service-account-token") {
			return errorf("condition %+v: want False with the policy's message naming the type", c)
		}
		if _, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "sa-token", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return errorf("Secret sa-token: %v; want none", err)
		}
		reserved := secretSyncYAML("reserved", "azure-sync", "ExampleSecret", "value", `    labels:
      secrets-store.sync.x-k8s.io/mine: "yes"
`)
		err = env.apply(ctx, reserved)
		if err == nil {
			return errorf("a SecretSync with a reserved label was accepted")
		}
		if !strings.Contains(err.Error(), "reserved for the controller") {
			return errorf("the reserved label was refused without saying why: %v", err)
		}
		return nil
	},
}

var secretSyncProviderError = Scenario{
	Name:    "secretsync/provider-error",
	Section: secretSyncSection,
	Summary: "an identity without access gives condition ProviderError whose message names the object and the denied access",
	Code:    []string{"secretsynccontroller.Reconciler.fetch"},
	Run: func(ctx context.Context, env *Env) error {
		if err := ensureSyncController(ctx, env); err != nil {
			return err
		}
		k := env.Target.Kube()
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("denied")); err != nil {
			return err
		}
		class := strings.Replace(exampleSecretClass("azure-no-access"), "<client-id>", "<no-access-client-id>", 1)
		if err := env.apply(ctx, class+"---"+secretSyncYAML("denied", "azure-no-access", "ExampleSecret", "value", "")); err != nil {
			return err
		}
		c, err := waitSyncCondition(ctx, env, "denied", ssv1alpha1.ConditionTypeCreate, ssv1alpha1.ReasonProviderError, syncWait)
		if err != nil {
			return err
		}
		msg := strings.ToLower(c.Message)
		if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "ExampleSecret") ||
			(!strings.Contains(msg, "forbidden") && !strings.Contains(msg, "permissiondenied") && !strings.Contains(msg, "access")) {
			return errorf("condition %+v: want False naming ExampleSecret and the denied access", c)
		}
		if _, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "denied", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return errorf("Secret denied: %v; want none", err)
		}
		return nil
	},
}
