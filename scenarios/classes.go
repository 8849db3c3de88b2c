package scenarios

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// classesNamespaced proves "Supports pod portability with the
// SecretProviderClass CRD": a SecretProviderClass is namespaced, so a pod in
// another namespace cannot use it and gets the error users search for.
var classesNamespaced = Scenario{
	Name:    "classes/namespaced-not-found",
	Section: "Features",
	Summary: "the class works in its namespace; a pod elsewhere gets FailedMount \"failed to get secretproviderclass <ns>/<name>\"",
	Code:    []string{"driver/csiplugin.Server.NodePublishVolume"},
	Run: func(ctx context.Context, env *Env) error {
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("ns")); err != nil {
			return err
		}
		if err := env.startPod(ctx, "busybox-secrets-store-inline", mountSecretYAML); err != nil {
			return err
		}
		k := env.Target.Kube()
		other := env.Namespace + "-other"
		if _, err := k.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		defer func() {
			_ = deleteNamespace(context.WithoutCancel(ctx), k, other)
		}()
		if err := k.Apply(ctx, other, busyboxPod("elsewhere", "azure-kvname-user-msi")); err != nil {
			return err
		}
		_, err := k.WaitEvent(ctx, other, "elsewhere", "FailedMount",
			"failed to get secretproviderclass "+other+"/azure-kvname-user-msi", 2*time.Minute)
		return err
	},
}

// classesMultiple proves that one pod can use several SecretProviderClasses,
// one volume each.
var classesMultiple = Scenario{
	Name:    "classes/multiple-in-one-pod",
	Section: "Features",
	Summary: "a pod with two volumes from two SecretProviderClasses sees both",
	Code:    []string{"driver/csiplugin.Server.NodePublishVolume"},
	Run: func(ctx context.Context, env *Env) error {
		a, b := uniqueValue("a"), uniqueValue("b")
		v := env.Target.Vault()
		if _, err := v.SetSecret(ctx, "class-a", a); err != nil {
			return err
		}
		if _, err := v.SetSecret(ctx, "class-b", b); err != nil {
			return err
		}
		yaml := userMSIClass("azure-a", objects(object("objectName", "class-a", "objectType", "secret")), "") + "---" +
			userMSIClass("azure-b", objects(object("objectName", "class-b", "objectType", "secret")), "") + "---" +
			busyboxPod("two", "azure-a", "azure-b")
		if err := env.startPod(ctx, "two", yaml); err != nil {
			return err
		}
		if err := env.expectFile(ctx, "two", "/mnt/secrets-store/class-a", a); err != nil {
			return err
		}
		return env.expectFile(ctx, "two", "/mnt/secrets-store-1/class-b", b)
	},
}
