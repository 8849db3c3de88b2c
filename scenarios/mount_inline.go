package scenarios

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// podStatusGVR is the SecretProviderClassPodStatus resource.
var podStatusGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasspodstatuses"}

// mountInline proves "Supports CSI inline volumes": a pod's inline csi volume
// is published by the driver, which records it in a SecretProviderClassPodStatus
// owned by the pod.
var mountInline = Scenario{
	Name:    "mount/inline-volume",
	Section: "Features",
	Summary: "an inline csi volume mounts, and its SecretProviderClassPodStatus records pod, class, target and object versions",
	Code:    []string{"driver/csiplugin.Server.NodePublishVolume", "driver/podstatus.Client.Record"},
	Run: func(ctx context.Context, env *Env) error {
		version, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("inline"))
		if err != nil {
			return err
		}
		if err := env.startPod(ctx, "busybox-secrets-store-inline", mountSecretYAML); err != nil {
			return err
		}
		k := env.Target.Kube()
		pod, err := k.Clientset.CoreV1().Pods(env.Namespace).Get(ctx, "busybox-secrets-store-inline", metav1.GetOptions{})
		if err != nil {
			return err
		}
		name := "busybox-secrets-store-inline-" + env.Namespace + "-azure-kvname-user-msi"
		st, err := k.Dynamic.Resource(podStatusGVR).Namespace(env.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return errorf("SecretProviderClassPodStatus %s: %v", name, err)
		}
		status, _ := st.Object["status"].(map[string]any)
		if status["podName"] != pod.Name || status["secretProviderClassName"] != "azure-kvname-user-msi" || status["mounted"] != true {
			return errorf("pod status records %v", status)
		}
		if tp, _ := status["targetPath"].(string); !strings.Contains(tp, string(pod.UID)) || !strings.HasSuffix(tp, "/mount") {
			return errorf("targetPath %q is not the pod's volume", tp)
		}
		objs, _ := status["objects"].([]any)
		if len(objs) != 1 {
			return errorf("pod status objects %v, want one", objs)
		}
		o, _ := objs[0].(map[string]any)
		if o["id"] != "secret/ExampleSecret" || o["version"] != version {
			return errorf("pod status object %v, want id secret/ExampleSecret version %s", o, version)
		}
		owners := st.GetOwnerReferences()
		if len(owners) != 1 || owners[0].Kind != "Pod" || owners[0].UID != pod.UID {
			return errorf("pod status owners %v, want the pod", owners)
		}
		return nil
	},
}

// spcGVR is the SecretProviderClass resource.
var spcGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasses"}
