package addon

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestEnableWritesNothingWhenTheServerRejectsAnObject makes the server reject
// the last object enable applies (a DaemonSet of the same name whose immutable
// selector differs) and checks that none of the objects before it was written:
// the server-side dry-run of everything runs before the first write.
func TestEnableWritesNothingWhenTheServerRejectsAnObject(t *testing.T) {
	c := newClients(t)
	ctx := context.Background()
	labels := map[string]string{"app": "someone-else"}
	squatter := &appsv1.DaemonSet{
		// kvcsi's label: an older add-on's DaemonSet, which enable would
		// take over (objects without it are refused before any dry-run).
		ObjectMeta: metav1.ObjectMeta{Name: ProviderName, Namespace: Namespace, Labels: map[string]string{AddonLabel: Name}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	if _, err := c.cs.AppsV1().DaemonSets(Namespace).Create(ctx, squatter, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.cs.AppsV1().DaemonSets(Namespace).Delete(context.Background(), ProviderName, metav1.DeleteOptions{})
	})

	_, err := kvcsiAddon(t, "enable", nil)
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") || !strings.Contains(err.Error(), ProviderName) {
		t.Fatalf("enable over a conflicting DaemonSet: err = %v, want a dry-run failure naming %s", err, ProviderName)
	}
	checks := map[string]func(context.Context) error{
		"driver ServiceAccount": func(ctx context.Context) error {
			_, err := c.cs.CoreV1().ServiceAccounts(Namespace).Get(ctx, DriverName, metav1.GetOptions{})
			return err
		},
		"driver ClusterRole": func(ctx context.Context) error {
			_, err := c.cs.RbacV1().ClusterRoles().Get(ctx, DriverName+"-secretproviderclass", metav1.GetOptions{})
			return err
		},
		"CSIDriver": func(ctx context.Context) error {
			_, err := c.cs.StorageV1().CSIDrivers().Get(ctx, "secrets-store.csi.k8s.io", metav1.GetOptions{})
			return err
		},
		"driver DaemonSet": func(ctx context.Context) error {
			_, err := c.cs.AppsV1().DaemonSets(Namespace).Get(ctx, DriverName, metav1.GetOptions{})
			return err
		},
		"state ConfigMap": func(ctx context.Context) error {
			_, err := c.cs.CoreV1().ConfigMaps(Namespace).Get(ctx, StateConfigMap, metav1.GetOptions{})
			return err
		},
	}
	for what, get := range checks {
		if c.exists(t, get) {
			t.Errorf("%s was written although enable failed", what)
		}
	}
	// The local control plane installs the CRDs itself; enable must not have
	// taken them over either.
	crd, err := c.dyn.Resource(crdGVR).Get(ctx, "secretproviderclasses.secrets-store.csi.x-k8s.io", metav1.GetOptions{})
	if err == nil && crd.GetLabels()[AddonLabel] != "" {
		t.Error("the SecretProviderClass CRD was labelled although enable failed")
	}
	ds, err := c.cs.AppsV1().DaemonSets(Namespace).Get(ctx, ProviderName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Spec.Template.Spec.Containers[0].Name != "c" {
		t.Error("the conflicting DaemonSet was changed")
	}
	if out := mustAddon(t, "status", nil); !strings.Contains(out, "disabled") {
		t.Errorf("status after the failed enable:\n%s", out)
	}
}
