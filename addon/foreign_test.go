package addon

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func liveObj(kind, ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(labels)
	return u
}

// AKS's own add-on owns DaemonSets of exactly kvcsi's names: enable refuses
// and explains the way out instead of fighting AKS's reconciler.
func TestEnableRefusesAKSManagedObjects(t *testing.T) {
	live := []*unstructured.Unstructured{
		nil, // not there
		liveObj("DaemonSet", Namespace, DriverName, map[string]string{AKSManagedLabel: "Reconcile", "app": "secrets-store-csi-driver"}),
		liveObj("CustomResourceDefinition", "", "secretproviderclasses.secrets-store.csi.x-k8s.io", map[string]string{AKSManagedLabel: "Reconcile"}),
	}
	found := foreignObjects(live)
	if len(found) != 2 {
		t.Fatalf("foreignObjects = %q, want the DaemonSet and the AKS-managed CRD", found)
	}
	err := foreignError(found)
	if !errors.Is(err, ErrForeignObjects) {
		t.Fatalf("error %v does not wrap ErrForeignObjects", err)
	}
	for _, want := range []string{
		"DaemonSet kube-system/" + DriverName + " (managed by AKS: addonmanager.kubernetes.io/mode=Reconcile)",
		"kvcsi replaces AKS's azure-keyvault-secrets-provider add-on",
		"az aks disable-addons --addons azure-keyvault-secrets-provider",
		"an identity you control",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// Objects of the add-on's names installed by something else (Helm, kubectl)
// are refused too; kvcsi's own objects and CRDs installed by the cluster are not.
func TestEnableRefusesObjectsItDidNotCreate(t *testing.T) {
	live := []*unstructured.Unstructured{
		liveObj("DaemonSet", Namespace, ProviderName, map[string]string{"app.kubernetes.io/managed-by": "Helm"}),
		liveObj("ServiceAccount", Namespace, DriverName, nil),
		liveObj("DaemonSet", Namespace, DriverName, map[string]string{AddonLabel: Name}),
		liveObj("CustomResourceDefinition", "", "secretproviderclasses.secrets-store.csi.x-k8s.io", nil),
	}
	got := foreignObjects(live)
	want := []string{
		"DaemonSet kube-system/" + ProviderName + " (not installed by kvcsi; managed-by: Helm)",
		"ServiceAccount kube-system/" + DriverName + " (not installed by kvcsi; managed-by: unknown)",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("foreignObjects =\n%q\nwant\n%q", got, want)
	}
	if f := foreignObjects([]*unstructured.Unstructured{live[2], live[3]}); len(f) != 0 {
		t.Errorf("kvcsi's own objects and plain CRDs refused: %q", f)
	}
}

// Against a real kube-apiserver: AKS's add-on DaemonSet (its label, its
// selector) makes enable refuse before writing anything.
func TestEnableRefusesBesideAKSAddonOnTheServer(t *testing.T) {
	c := newClients(t)
	ctx := context.Background()
	labels := map[string]string{"app": "secrets-store-csi-driver"}
	aks := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: DriverName, Namespace: Namespace, Labels: map[string]string{AKSManagedLabel: "Reconcile"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "secrets-store", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	if _, err := c.cs.AppsV1().DaemonSets(Namespace).Create(ctx, aks, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.cs.AppsV1().DaemonSets(Namespace).Delete(context.Background(), DriverName, metav1.DeleteOptions{})
	})
	_, err := kvcsiAddon(t, "enable", nil)
	if !errors.Is(err, ErrForeignObjects) || !strings.Contains(err.Error(), "DaemonSet kube-system/"+DriverName+" (managed by AKS") {
		t.Fatalf("enable beside AKS's add-on: err = %v, want ErrForeignObjects naming the DaemonSet", err)
	}
	if c.exists(t, func(ctx context.Context) error {
		_, err := c.cs.CoreV1().ConfigMaps(Namespace).Get(ctx, StateConfigMap, metav1.GetOptions{})
		return err
	}) {
		t.Error("the state ConfigMap was written although enable refused")
	}
	if c.exists(t, func(ctx context.Context) error {
		_, err := c.cs.CoreV1().ServiceAccounts(Namespace).Get(ctx, DriverName, metav1.GetOptions{})
		return err
	}) {
		t.Error("the driver ServiceAccount was written although enable refused")
	}
}

// The Windows DaemonSets: installed only when Windows nodes exist and a
// Windows image is configured; skipped with a message saying what to do
// when there is no image.
func TestWindowsDaemonSetsFollowNodesAndImage(t *testing.T) {
	if on, msg := windowsPlan(0, "0.1.0-windows"); on || msg != "" {
		t.Errorf("no Windows nodes: %v %q", on, msg)
	}
	on, msg := windowsPlan(2, "")
	if on || !strings.Contains(msg, "2 Windows node(s) found but no Windows image is configured") || !strings.Contains(msg, "--windows-image-tag") {
		t.Errorf("Windows nodes, no image: %v %q", on, msg)
	}
	on, _ = windowsPlan(2, "0.1.0-windows")
	if !on {
		t.Fatal("Windows nodes and an image: not enabled")
	}
	c := DefaultConfig("0.1.0")
	c.WindowsImageTag = "0.1.0-windows"
	c.windows = on
	objs, err := Objects(c, "")
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for _, o := range objs {
		if o.GetKind() != "DaemonSet" {
			continue
		}
		cs, _, _ := unstructuredContainers(o.Object)
		for _, ct := range cs {
			m := ct.(map[string]any)
			images[o.GetName()+"/"+m["name"].(string)] = m["image"].(string)
		}
	}
	for k, want := range map[string]string{
		DriverName + "-windows/secrets-store":              "ghcr.io/kvcsi/secrets-store-csi-driver:0.1.0-windows",
		DriverName + "-windows/node-driver-registrar":      "ghcr.io/kvcsi/csi-node-driver-registrar:0.1.0-windows",
		ProviderName + "-windows/provider-azure-installer": "ghcr.io/kvcsi/secrets-store-provider-azure:0.1.0-windows",
		DriverName + "/secrets-store":                      "ghcr.io/kvcsi/secrets-store-csi-driver:0.1.0",
	} {
		if images[k] != want {
			t.Errorf("%s: image %q, want %q", k, images[k], want)
		}
	}
	c.windows = false
	objs, _ = Objects(c, "")
	for _, o := range objs {
		if strings.HasSuffix(o.GetName(), "-windows") {
			t.Errorf("%s %s rendered without Windows nodes", o.GetKind(), o.GetName())
		}
	}
}
