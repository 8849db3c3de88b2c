package scenarios

import (
	"context"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// addonUpdate proves "Enable autorotation on an existing AKS cluster" and the
// update command of "Specify a custom rotation interval": the DaemonSet rolls
// with the new settings.
var addonUpdate = Scenario{
	Name:    "addon/update-rotation-interval",
	Section: "Specify a custom rotation interval",
	Summary: "addon update --enable-secret-rotation --rotation-poll-interval 5m rolls the driver with the new interval",
	Code:    []string{"addon.Manager.Update"},
	Run: func(ctx context.Context, env *Env) error {
		k := env.Target.Kube()
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: "5m"}); err != nil {
			return err
		}
		if err := waitAddonPods(ctx, k, "--rotation-poll-interval=5m"); err != nil {
			return err
		}
		if err := waitAddonPods(ctx, k, "--enable-secret-rotation=true"); err != nil {
			return err
		}
		short := RotationPollInterval.String()
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "update", Rotation: true, PollInterval: short}); err != nil {
			return err
		}
		return waitAddonPods(ctx, k, "--rotation-poll-interval="+short)
	},
}

// addonDisableRefused proves the note of "Disable the Azure Key Vault Provider":
// disabling while a SecretProviderClass exists is an error, and nothing is removed.
var addonDisableRefused = Scenario{
	Name:    "addon/disable-refused-while-class-exists",
	Section: "Disable the Azure Key Vault Provider for Secrets Store CSI Driver on an existing AKS cluster",
	Summary: "addon disable fails naming the existing SecretProviderClass, and the add-on keeps running",
	Code:    []string{"addon.Manager.Disable"},
	Run: func(ctx context.Context, env *Env) error {
		if err := env.apply(ctx, userMSIClass("keep-me", objects(object("objectName", "ExampleSecret", "objectType", "secret")), "")); err != nil {
			return err
		}
		err := env.Target.Addon(ctx, AddonCommand{Verb: "disable"})
		if err == nil {
			return errorf("addon disable succeeded while SecretProviderClass %s/keep-me exists", env.Namespace)
		}
		if !strings.Contains(err.Error(), env.Namespace+"/keep-me") {
			return errorf("addon disable failed without naming %s/keep-me: %v", env.Namespace, err)
		}
		return waitAddonPods(ctx, env.Target.Kube(), "")
	},
}

// addonDisable proves the second note of "Disable the Azure Key Vault
// Provider": once disabled, existing pods keep working (without updates) and
// a new pod fails to start because the driver is gone. The add-on is enabled
// again afterwards so the cluster is left as the run found it.
var addonDisable = Scenario{
	Name:    "addon/disable-keeps-existing-pods",
	Section: "Disable the Azure Key Vault Provider for Secrets Store CSI Driver on an existing AKS cluster",
	Summary: "after disable, a running pod still reads its secret; a new pod fails to mount",
	Code:    []string{"addon.Manager.Disable"},
	Run: func(ctx context.Context, env *Env) error {
		value := uniqueValue("kept")
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", value); err != nil {
			return err
		}
		if err := env.startPod(ctx, "busybox-secrets-store-inline", mountSecretYAML); err != nil {
			return err
		}
		k := env.Target.Kube()
		// The class must go before disabling, as the documentation asks.
		if err := k.Dynamic.Resource(spcGVR).Namespace(env.Namespace).Delete(ctx, "azure-kvname-user-msi", metav1.DeleteOptions{}); err != nil {
			return err
		}
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "disable"}); err != nil {
			return err
		}
		if err := k.Eventually(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			pods, err := k.Clientset.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{
				LabelSelector: "app in (secrets-store-csi-driver,secrets-store-provider-azure)"})
			if err != nil {
				return false, err
			}
			if len(pods.Items) > 0 {
				return false, errorf("%d add-on pods remain", len(pods.Items))
			}
			return true, nil
		}); err != nil {
			return err
		}
		if err := env.expectFile(ctx, "busybox-secrets-store-inline", "/mnt/secrets-store/ExampleSecret", value); err != nil {
			return errorf("the existing pod lost its secret: %v", err)
		}
		if err := env.apply(ctx, busyboxPod("new-pod", "azure-kvname-user-msi")); err != nil {
			return err
		}
		if _, err := k.WaitEvent(ctx, env.Namespace, "new-pod", "FailedMount", "secrets-store.csi.k8s.io", 2*time.Minute); err != nil {
			return err
		}
		// Leave the cluster as found: delete the new pod, enable again.
		if err := k.Delete(ctx, env.Namespace, busyboxPod("new-pod", "azure-kvname-user-msi")); err != nil {
			return err
		}
		if err := env.Target.Addon(ctx, AddonCommand{Verb: "enable", Rotation: true, PollInterval: RotationPollInterval.String()}); err != nil {
			return err
		}
		return waitAddonPods(ctx, k, "")
	},
}
